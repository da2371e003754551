#!/bin/bash
# Runs INSIDE a booted stock Debian 12 (systemd as PID 1, cgroup v2; scripts/realhost/run.sh boots
# it): Berth installed from its package and used as a user would. Every check prints PASS or FAIL
# with what it saw; the script exits non-zero if any failed. Slow guest (software emulation): the
# waits are generous on purpose.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH=$here:/usr/sbin:/usr/bin:/sbin:/bin
export DOCKER_HOST=unix:///run/berth/berth.sock
failures=0
t0=$(date +%s)
pass() { echo "PASS $* (+$(( $(date +%s) - t0 ))s)"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
check() { # check NAME CMD...: passes when CMD succeeds
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name: $(echo "$out" | tail -5 | tr '\n' ' ')"; fi
}
wait_for() { # wait_for SECONDS CMD...
    local until=$(( $(date +%s) + $1 )); shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$until" ] && return 1
        sleep 0.5
    done
}
info() { docker info --format "$1" 2>/dev/null; }

echo "kernel $(uname -r), $(stat -fc %T /sys/fs/cgroup), systemd $(systemctl --version | head -1 | awk '{print $2}')"
grep -qw overlay /proc/filesystems && echo "note: overlay already in /proc/filesystems" || echo "note: overlay not loaded before berthd"

# -- the package --------------------------------------------------------------------------------
check "dpkg -i the package" dpkg -i "$here"/berth_*.deb
check "berth.socket enabled and listening" systemctl is-active --quiet berth.socket
check "the berth group exists" getent group berth
check "/etc/berth/daemon.json is a conffile" grep -q /etc/berth/daemon.json /var/lib/dpkg/info/berth.conffiles

# -- first use through the socket: systemd starts berthd -----------------------------------------
check "docker version starts berthd through the socket" timeout 120 docker version
check "berth.service active (Type=notify: READY=1 came)" systemctl is-active --quiet berth.service
check "the overlay module was loaded" grep -qw overlay /proc/filesystems
check "storage driver overlay2" test "$(info '{{.Driver}}')" = overlay2
check "docker info: cgroup v2" test "$(info '{{.CgroupVersion}}')" = 2
check "systemctl status shows berthd's STATUS line" sh -c "systemctl status berth.service | grep -qi 'status:'"
check "import the default image" docker import "$here/busybox.tar" busybox:latest

# -- containers with limits, stats, pause, OOM, update -------------------------------------------
check "run -d with limits" docker run -d --name lim -m 64m --cpus 0.5 --pids-limit 50 busybox sleep 100000
cg=$(docker inspect -f '{{.State.Pid}}' lim 2>/dev/null | xargs -I{} cat /proc/{}/cgroup 2>/dev/null | sed 's/^0:://')
echo "container cgroup: $cg"
check "memory.max is 64m" test "$(cat /sys/fs/cgroup$cg/memory.max 2>&1)" = 67108864
check "cpu.max is 50000 100000" test "$(cat /sys/fs/cgroup$cg/cpu.max 2>&1)" = "50000 100000"
check "pids.max is 50" test "$(cat /sys/fs/cgroup$cg/pids.max 2>&1)" = 50
check "docker stats reads v2 counters" sh -c "docker stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' lim | grep -q ' / 64MiB 1'"
check "pause: cgroup.freeze" sh -c "docker pause lim && test \"\$(cat /sys/fs/cgroup$cg/cgroup.freeze)\" = 1 && docker inspect -f '{{.State.Status}}' lim | grep -qx paused"
check "unpause" sh -c "docker unpause lim && test \"\$(cat /sys/fs/cgroup$cg/cgroup.freeze)\" = 0"
check "update -m 128m" sh -c "docker update -m 128m --memory-swap 256m lim && test \"\$(cat /sys/fs/cgroup$cg/memory.max)\" = 134217728"
check "a container cannot raise its own limits" sh -c "! docker exec lim sh -c 'echo max > /sys/fs/cgroup/memory.max' && test \"\$(cat /sys/fs/cgroup$cg/memory.max)\" = 134217728"
check "its own cgroup namespace" sh -c "test \"\$(docker exec lim cat /proc/self/cgroup)\" = '0::/'"
# mknod is allowed (Docker's default rules: `m` for every device), opening is not.
check "the device filter denies a block device" sh -c "docker run --rm busybox sh -c 'mknod /tmp/sda b 8 0 || exit 3; head -c 1 /tmp/sda; echo rc=\$?' 2>&1 | tr '\n' ' ' | grep -q 'Operation not permitted.*rc=1'"
check "the device filter allows /dev/null" docker run --rm busybox sh -c 'echo x > /dev/null'
check "run with cpuset, swap and io limits under a cgroup parent" docker run -d --name lim2 --cpuset-cpus 0 -m 64m --memory-swap 96m --device-read-bps /dev/vda:1mb --device-write-iops /dev/vda:100 --cgroup-parent /ci-jobs busybox sleep 100000
cg2=$(docker inspect -f '{{.State.Pid}}' lim2 2>/dev/null | xargs -I{} cat /proc/{}/cgroup 2>/dev/null | sed 's/^0:://')
echo "cgroup with --cgroup-parent: $cg2"
check "--cgroup-parent on v2" sh -c "case '$cg2' in /ci-jobs/*) true;; *) false;; esac"
check "cpuset.cpus is 0" test "$(cat /sys/fs/cgroup$cg2/cpuset.cpus 2>&1)" = 0
check "memory.swap.max is 32m" test "$(cat /sys/fs/cgroup$cg2/memory.swap.max 2>&1)" = 33554432
check "io.max holds the read-bps and write-iops throttles" sh -c "grep -q \"^$(cat /sys/block/vda/dev) rbps=1048576 wbps=max riops=max wiops=100\" /sys/fs/cgroup$cg2/io.max"
check "rm -f of the parented container" docker rm -f lim2
docker run --name oom -m 32m --memory-swap 32m busybox sh -c 'x=a; while :; do x=$x$x; done' >/dev/null 2>&1
check "an OOM kill is seen (memory.events)" test "$(docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom)" = "true 137"

# -- reload: live restore off -> on ---------------------------------------------------------------
check "live restore on from the package's daemon.json" test "$(info '{{.LiveRestoreEnabled}}')" = true
echo '{"live-restore": false}' > /etc/berth/daemon.json
check "systemctl reload berth (off)" systemctl reload berth
check "docker info: live restore off after reload" test "$(info '{{.LiveRestoreEnabled}}')" = false
echo '{"live-restore": true}' > /etc/berth/daemon.json
check "systemctl reload berth (on)" systemctl reload berth
check "docker info: live restore on after reload" test "$(info '{{.LiveRestoreEnabled}}')" = true
check "still active after reloads" systemctl is-active --quiet berth.service

# -- 20 restarts under a client loop ---------------------------------------------------------------
pid_before=$(docker inspect -f '{{.State.Pid}}' lim)
( ok=0 bad=0; end=$(( $(date +%s) + 100000 ))
  while [ ! -e /tmp/stop-loop ]; do
      if docker ps -q >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  echo "$ok $bad" > /tmp/loop-result ) &
loop=$!
for i in $(seq 1 20); do
    systemctl restart berth || fail "systemctl restart #$i"
done
touch /tmp/stop-loop; wait $loop
read -r ok bad < /tmp/loop-result
echo "client loop during 20 restarts: $ok ok, $bad failed"
check "0 failed API requests through 20 restarts" test "$bad" = 0 -a "$ok" -ge 10
check "the container untouched by 20 restarts" test "$(docker inspect -f '{{.State.Pid}} {{.State.Running}}' lim)" = "$pid_before true"
main=$(systemctl show -p MainPID --value berth)
echo "berth.service's cgroup holds: $(tr '\n' ' ' < /sys/fs/cgroup/system.slice/berth.service/cgroup.procs)(berthd is $main)"
check "only berthd in berth.service's cgroup after 20 restarts" test "$(cat /sys/fs/cgroup/system.slice/berth.service/cgroup.procs)" = "$main"
check "the monitor sits beside its container" sh -c "grep -l berth-shim /proc/[0-9]*/cmdline 2>/dev/null | sed 's,/cmdline,/cgroup,' | xargs cat | grep -q '^0::/berth/.*\.monitor$'"

# -- removing the package stops nothing; purge keeps the data ------------------------------------
check "dpkg -r berth" dpkg -r berth
check "berthd still running after dpkg -r" systemctl is-active --quiet berth.service
check "the container still running after dpkg -r" test "$(docker inspect -f '{{.State.Pid}} {{.State.Running}}' lim)" = "$pid_before true"
check "dpkg -i again" dpkg -i "$here"/berth_*.deb
check "systemctl restart berth after reinstall" systemctl restart berth
check "the container untouched by the reinstall" test "$(docker inspect -f '{{.State.Pid}} {{.State.Running}}' lim)" = "$pid_before true"

# -- stop without live restore stops the containers --------------------------------------------
echo '{"live-restore": false}' > /etc/berth/daemon.json
systemctl reload berth
check "systemctl stop berth (live restore off)" timeout 120 systemctl stop berth
check "the container was stopped with its daemon" sh -c "! kill -0 $pid_before 2>/dev/null"

check "dpkg --purge berth" dpkg --purge berth
check "purge kept /var/lib/berth" test -d /var/lib/berth/containers
check "purge removed /etc/berth" test ! -e /etc/berth

if [ "$failures" -ne 0 ]; then
    echo "--- journal of berth.service and berth.socket (last 60 lines) ---"
    journalctl --no-pager -o short-monotonic -u berth.service -u berth.socket | tail -60
fi
echo "guest checks done in $(( $(date +%s) - t0 )) s, $failures failed"
[ "$failures" -eq 0 ]
