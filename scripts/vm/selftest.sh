#!/bin/bash
# selftest.sh [--negative] — boots the guest once and checks what tests of Berth's units, .deb and
# cgroup v2 support rely on: systemd is PID 1, /sys/fs/cgroup is cgroup2fs, the boot reaches
# running/degraded, overlay loads (and whether it was there before), the kernel, the cgroup
# controllers, the host's /usr/local/bin/docker runs inside, and a file written by the guest comes
# back to the host. Exits non-zero when any check fails.
# --negative also checks run.sh's own exit codes, two more boots: a script's `exit 7` gives 7, a
# script past --timeout gives 124.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
negative=0
[ "${1:-}" = --negative ] && negative=1

[ -x /usr/local/bin/docker ] || { echo "selftest: /usr/local/bin/docker missing on the host (ensure_test_tools)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/berth-vm-selftest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/share" "$tmp/out"
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$nonce" > "$tmp/share/nonce"
cp /usr/local/bin/docker "$tmp/share/docker"
cat > "$tmp/share/test.sh" <<'GUEST'
#!/bin/bash
# Runs inside the guest, as root, from /opt/berth-vm (the share's copy).
set -u
failed=0 passed=0
ok()   { echo "PASS $*"; passed=$((passed + 1)); }
bad()  { echo "FAIL $*"; failed=$((failed + 1)); }

[ "$(id -u)" = 0 ] && ok "runs as root" || bad "runs as uid $(id -u)"

pid1=$(cat /proc/1/comm); exe1=$(readlink /proc/1/exe)
[ "$pid1" = systemd ] && [[ $exe1 == */systemd ]] && ok "PID 1 is systemd ($exe1)" || bad "PID 1 is $pid1 ($exe1)"

fs=$(stat -fc %T /sys/fs/cgroup)
[ "$fs" = cgroup2fs ] && ok "/sys/fs/cgroup is $fs" || bad "/sys/fs/cgroup is $fs, not cgroup2fs"

state=$(timeout 240 systemctl is-system-running --wait 2>&1)
case $state in
    running) ok "systemctl is-system-running: $state" ;;
    degraded) ok "systemctl is-system-running: $state"; systemctl --failed --no-legend --plain | sed 's/^/  failed unit: /' ;;
    *) bad "systemctl is-system-running: $state"; systemctl --failed --no-legend --plain | sed 's/^/  failed unit: /' ;;
esac

if grep -qw overlay /proc/filesystems; then before=present; else before=absent; fi
if modprobe overlay && grep -qw overlay /proc/filesystems; then
    ok "modprobe overlay: overlay in /proc/filesystems (before modprobe: $before)"
else
    bad "modprobe overlay: overlay not in /proc/filesystems (before: $before)"
fi
mkdir -p /tmp/ov/{l,u,w,m} && echo lower > /tmp/ov/l/f
if mount -t overlay overlay -o lowerdir=/tmp/ov/l,upperdir=/tmp/ov/u,workdir=/tmp/ov/w /tmp/ov/m \
   && echo upper >> /tmp/ov/m/f && [ "$(cat /tmp/ov/l/f)" = lower ] && [ -f /tmp/ov/u/f ]; then
    ok "an overlay mount works (copy-up to the upper layer)"
else
    bad "an overlay mount fails"
fi
umount /tmp/ov/m 2>/dev/null

kver=$(uname -r)
[ -n "$kver" ] && [ -d "/lib/modules/$kver" ] && ok "kernel $kver ($(uname -v))" || bad "kernel '$kver' has no /lib/modules"

ctrl=$(cat /sys/fs/cgroup/cgroup.controllers)
missing=""
for c in cpu memory pids io cpuset; do [[ " $ctrl " == *" $c "* ]] || missing="$missing $c"; done
[ -z "$missing" ] && ok "cgroup controllers: $ctrl" || bad "cgroup controllers: $ctrl (missing:$missing)"
sub=$(cat /sys/fs/cgroup/cgroup.subtree_control)
echo "  root cgroup.subtree_control: $sub"

install -m 0755 /opt/berth-vm/docker /usr/local/bin/docker
v=$(/usr/local/bin/docker --version 2>&1)
[[ $v == "Docker version "* ]] && ok "the host's docker CLI runs: $v" || bad "docker --version: $v"

printf '%s %s\n' "$(cat /opt/berth-vm/nonce)" "$kver" > "$BERTH_VM_OUT/selftest.txt"
[ -s "$BERTH_VM_OUT/selftest.txt" ] && ok "wrote \$BERTH_VM_OUT/selftest.txt (the host checks it)" || bad "cannot write to \$BERTH_VM_OUT"

echo "guest: $passed passed, $failed failed"
[ "$failed" = 0 ]
GUEST

rc=0
"$here/run.sh" "$tmp/share" --timeout 600 --out "$tmp/out" | tee "$tmp/output" || rc=$?
fail=0
if [ "$rc" != 0 ]; then echo "selftest: FAIL run.sh exited $rc"; fail=1; fi
back=$(cat "$tmp/out/selftest.txt" 2>/dev/null || true)
if [ "${back%% *}" = "$nonce" ]; then
    echo "selftest: PASS the guest's file came back to the host: $back"
else
    echo "selftest: FAIL the guest's file did not come back (got '${back}')"; fail=1
fi
# A script that fails must make run.sh fail; a check that cannot fail would hide that.
if [ "$rc" = 0 ] && grep -q '^FAIL ' "$tmp/output"; then echo "selftest: FAIL a check failed but run.sh exited 0"; fail=1; fi
grep -q '^guest: [0-9]* passed, 0 failed$' "$tmp/output" || { echo "selftest: FAIL the guest's summary is missing or not clean"; fail=1; }

if [ "$negative" = 1 ]; then
    mkdir "$tmp/neg1" "$tmp/neg2"
    printf 'echo "about to exit 7"\nexit 7\n' > "$tmp/neg1/test.sh"
    rc=0; "$here/run.sh" "$tmp/neg1" --timeout 120 || rc=$?
    if [ "$rc" = 7 ]; then echo "selftest: PASS a script's exit 7 is run.sh's exit 7"
    else echo "selftest: FAIL a script's exit 7 gave run.sh exit $rc"; fail=1; fi
    printf 'echo sleeping; sleep 600\n' > "$tmp/neg2/test.sh"
    rc=0; "$here/run.sh" "$tmp/neg2" --timeout 5 || rc=$?
    if [ "$rc" = 124 ]; then echo "selftest: PASS a script past --timeout gives 124"
    else echo "selftest: FAIL a script past --timeout gave run.sh exit $rc"; fail=1; fi
fi

if [ "$fail" = 0 ]; then echo "selftest: all checks passed"; else echo "selftest: FAILED"; fi
exit "$fail"
