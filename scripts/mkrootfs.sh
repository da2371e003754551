#!/bin/bash
# mkrootfs.sh OUT.tar — the default image's root filesystem, made offline from Debian's
# busybox-static: bin/busybox plus one symlink per applet, etc/passwd, etc/group, empty
# etc/{hostname,hosts,resolv.conf}, and the usual empty directories. Import it with
# `berth import OUT.tar busybox:latest` (or `docker import`).
# Same layout as the Rust test harness builds (crates/berth-tests/src/rootfs.rs).
set -euo pipefail
out=${1:?usage: mkrootfs.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "mkrootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
"$bb" --list >/dev/null 2>&1 || { echo "mkrootfs: $bb is not a busybox binary" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,var}
chmod 0755 "$root"/{bin,dev,etc,home,var}
chmod 0555 "$root"/{proc,sys}
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"
install -m 0755 "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
: > "$root/etc/hostname"; : > "$root/etc/hosts"; : > "$root/etc/resolv.conf"
chmod 0644 "$root"/etc/{passwd,group,hostname,hosts,resolv.conf}
tar --numeric-owner --owner=0 --group=0 --mtime=@1700000000 --sort=name \
    -C "$root" -cf "$out" bin dev etc home proc root sys tmp var
echo "$out"
