#!/bin/bash
# image.sh [--rebuild] — builds (or reuses) the Debian 12 guest that scripts/vm/run.sh boots, and
# prints the directory of its cache entry: vmlinuz, initrd.img, rootfs.img (raw ext4), packages.txt
# (dpkg -l of the guest), key.txt (what the entry is keyed on), build-seconds.
#
# The cache (${BERTH_VM_CACHE:-/var/cache/berth-vm}) holds one directory per key; the key is a hash
# of this script (which carries the guest's unit and runner), the package list and the candidate
# version of each listed package as the host's `apt-cache policy` sees it (same mirror and suites
# as the guest's sources). An entry is built in a scratch directory and renamed into place only
# once complete, so an interrupted build leaves no entry; builds are serialised by a lock file.
# Needs root, qemu-system-x86/debootstrap/e2fsprogs (ensure_vm_tools in scripts/lib.sh), and the
# Debian mirror the host's apt uses.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"

cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
mirror=${BERTH_VM_MIRROR:-http://deb.debian.org/debian}
security=${BERTH_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
# What the guest has: systemd as PID 1 with its usual company, the stock kernel (initramfs-tools
# puts virtio into the initrd; 9p comes from the modules on the root), the tools the engine and its
# tests use. BERTH_VM_EXTRA_PKGS adds more (and changes the key).
pkgs=(systemd systemd-sysv dbus udev kmod iproute2 nftables iptables procps util-linux e2fsprogs
      linux-image-amd64 initramfs-tools ca-certificates busybox-static libseccomp2 libelf1 zlib1g
      ${BERTH_VM_EXTRA_PKGS:-})
rebuild=0
[ "${1:-}" = --rebuild ] && rebuild=1

is_root || die "image.sh needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null && command -v mkfs.ext4 >/dev/null \
    || die "debootstrap or mkfs.ext4 missing: run ensure_vm_tools (scripts/lib.sh)"

# The key. A package apt does not know (stale or missing lists) makes the key unusable.
policy=$(LC_ALL=C apt-cache policy "${pkgs[@]}" 2>/dev/null \
    | awk '/^[^ ]/{p=$1} /^  Candidate:/{print p, $2}')
if [ "$(printf '%s\n' "$policy" | grep -vc ' (none)$')" -ne "${#pkgs[@]}" ]; then
    die "apt-cache does not know every guest package (run apt-get update): $(printf '%s; ' "$policy")"
fi
keytext=$(printf 'script %s\nmirror %s %s %s\n%s\n' \
    "$(sha256sum < "${BASH_SOURCE[0]}" | cut -d' ' -f1)" "$mirror" "$security" "$suite" "$policy")
key=$(printf '%s' "$keytext" | sha256sum | cut -c1-16)
entry=$cache/bookworm-$key

valid() { [ -f "$1/complete" ] && [ -s "$1/rootfs.img" ] && [ -s "$1/vmlinuz" ] && [ -s "$1/initrd.img" ]; }

if [ "$rebuild" = 0 ] && valid "$entry"; then echo "$entry"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
say "vm image: waiting for the cache lock" ; flock 9
if [ "$rebuild" = 0 ] && valid "$entry"; then echo "$entry"; exit 0; fi   # built meanwhile

# Scratch left by a build that was SIGKILLed (we hold the lock, so no build is running).
for stale in "$cache"/.build.*; do
    [ -d "$stale" ] || continue
    for m in $(findmnt -rno TARGET 2>/dev/null | grep -F "$stale/" | sort -r); do umount -l "$m" || true; done
    findmnt -rno TARGET | grep -qF "$stale/" || rm -rf --one-file-system "$stale"
done
start=$(date +%s)
work=$(mktemp -d "$cache/.build.XXXXXX")
root=$work/root
cleanup() {
    local m
    # Never rm through a mount (debootstrap may bind the host's /dev into the chroot).
    for m in $(findmnt -rno TARGET 2>/dev/null | grep -F "$work/" | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    if findmnt -rno TARGET | grep -qF "$work/"; then
        echo "image.sh: mounts remain under $work; not removing it" >&2
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "vm image: debootstrap --variant=minbase $suite (key $key)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/initramfs-tools"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$root/etc/initramfs-tools/modules"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
say "vm image: apt-get install ${pkgs[*]}"
{
    in_root apt-get update -qq &&
    in_root apt-get -y -qq dist-upgrade &&
    in_root apt-get -y -qq install --no-install-recommends "${pkgs[@]}"
} > "$work/apt.log" 2>&1 < /dev/null || { tail -30 "$work/apt.log" >&2; die "apt-get in the guest root failed"; }
in_root apt-get clean
in_root dpkg-query -W -f='${Package} ${Version}\n' > "$work/packages.txt"
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"

# The system: hostname, fstab, no getty, no timers that would wake during a test.
echo berth-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 berth-vm\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' > "$root/etc/fstab"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
for u in getty@.service serial-getty@.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
         systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done

# The runner: mounts the host's share, copies it to the guest's disk, runs test.sh, reports on
# /dev/ttyS1 (run.sh reads that file), sends back $BERTH_VM_OUT, powers off.
cat > "$root/usr/local/sbin/berth-vm-runner" <<'RUNNER'
#!/bin/bash
set -u
tty=/dev/ttyS1
stty -F "$tty" raw -echo 2>/dev/null || true
exec 3>"$tty"
mark() { printf '%s\n' "$*" >&3; }
finish() {  # finish CODE: the last line, then power off
    mark "BERTH-VM-EXIT $1"
    exec 3>&-
    sync
    systemctl --no-block poweroff
    exit 0
}
setup_failed() { mark "BERTH-VM-SETUP-FAILED $*"; mark "BERTH-VM-EXIT 96"; exec 3>&-; sync; systemctl --no-block poweroff; exit 0; }
timeout=$(sed -n 's/.*berth_vm\.timeout=\([0-9][0-9]*\).*/\1/p' /proc/cmdline)
timeout=${timeout:-600}
mark "BERTH-VM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)s kernel=$(uname -r)"
modprobe -a 9p 9pnet_virtio || setup_failed "modprobe 9p"
mkdir -p /mnt/berth-host /opt/berth-vm /opt/berth-vm-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro host /mnt/berth-host || setup_failed "mount 9p"
t0=$(date +%s.%N)
cp -a /mnt/berth-host/. /opt/berth-vm/ || setup_failed "copy from the share"
umount /mnt/berth-host
t1=$(date +%s.%N)
[ -f /opt/berth-vm/test.sh ] || setup_failed "no test.sh in the share"
mark "BERTH-VM-START copy=$(echo "$t1 - $t0" | awk '{print $1-$3}')s uptime=$(cut -d' ' -f1 /proc/uptime)s timeout=${timeout}s"
cd /opt/berth-vm
s0=$(date +%s.%N)
BERTH_VM_OUT=/opt/berth-vm-out HOME=/root timeout --kill-after=10 "$timeout" \
    /bin/bash /opt/berth-vm/test.sh < /dev/null 2>&1 \
    | sed -u 's/^BERTH-VM-/ BERTH-VM-/' | tee /var/log/berth-vm-test.log >&3
rc=${PIPESTATUS[0]}   # (the script's own lines never pass for markers: sed indents them)
s1=$(date +%s.%N)
# The markers start a line even when the script's output did not end with a newline.
if [ -s /var/log/berth-vm-test.log ] && [ -n "$(tail -c1 /var/log/berth-vm-test.log)" ]; then printf '\n' >&3; fi
mark "BERTH-VM-SCRIPT-SECONDS $(echo "$s1 - $s0" | awk '{print $1-$3}')"
if [ -n "$(ls -A /opt/berth-vm-out)" ]; then
    mark "BERTH-VM-FILES-BEGIN"
    tar -C /opt/berth-vm-out -czf - . | base64 -w 76 >&3
    mark "BERTH-VM-FILES-END"
fi
finish "$rc"
RUNNER
chmod 0755 "$root/usr/local/sbin/berth-vm-runner"
cat > "$root/etc/systemd/system/berth-vm-test.service" <<'UNIT'
[Unit]
Description=Berth VM test: runs /opt/berth-vm/test.sh from the host's 9p share
# After the boot transaction, and simple rather than oneshot, so that the boot finishes and
# `systemctl is-system-running` can say running/degraded while the test runs.
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/berth-vm-runner
StandardOutput=journal+console
StandardError=journal+console
KillMode=mixed
TimeoutStopSec=10

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/berth-vm-test.service "$root/etc/systemd/system/multi-user.target.wants/berth-vm-test.service"

# Kernel and initrd out of the root (the guest boots them with -kernel/-initrd), then the disk:
# what the root uses plus 3 GiB free, a sparse file.
kver=$(basename "$(ls -d "$root"/lib/modules/* | sort -V | tail -1)")
out=$work/entry
mkdir -p "$out"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
used_mb=$(du -sm --one-file-system "$root" | cut -f1)
say "vm image: mkfs.ext4 -d (root ${used_mb} MiB, kernel $kver)"
truncate -s $(( used_mb + used_mb / 4 + 3072 ))M "$out/rootfs.img"
mkfs.ext4 -q -L berth-vm -d "$root" "$out/rootfs.img"
mv "$work/packages.txt" "$out/packages.txt"
printf '%s\nkernel %s\n' "$keytext" "$kver" > "$out/key.txt"
echo $(( $(date +%s) - start )) > "$out/build-seconds"
touch "$out/complete"
sync -f "$out/rootfs.img"
[ -e "$entry" ] && rm -rf --one-file-system "$entry"
mv "$out" "$entry"
# Older entries are of no use any more (keys change with package versions).
for old in "$cache"/bookworm-*; do
    [ "$old" = "$entry" ] || rm -rf --one-file-system "$old"
done
say "vm image: built $entry in $(cat "$entry/build-seconds") s"
echo "$entry"
