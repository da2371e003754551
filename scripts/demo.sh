#!/bin/bash
# The demo: installs what is missing, builds Berth (release), starts `berthd --live-restore`,
# imports a busybox image made offline, runs a container that ticks once a second, kills the
# daemon with SIGKILL, shows the container still running (and still logging), restarts the daemon
# and shows it reconnected: same pid, logs without a gap. Leaves the daemon running.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

is_root || die "the demo runs containers: run it as root"
ensure_base

say "cargo build --release --workspace (several minutes on 2 cores)"
cargo build --release --workspace
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release"
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || die "$BIN/$b was not built"
done
export PATH="$BIN:$PATH"

EXEC_ROOT=/run/berth
SOCK=$EXEC_ROOT/berth.sock
PIDFILE=$EXEC_ROOT/berthd.pid
LOG=/var/log/berth-demo.log
# A demo-specific daemon.json: live restore comes from the --live-restore flag, and the daemon
# refuses a directive given both as a flag and in the file.
CONFIG=/etc/berth/demo-daemon.json
mkdir -p /etc/berth
[ -f "$CONFIG" ] || echo '{}' > "$CONFIG"

ping_daemon() { curl -sf --max-time 1 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

start_daemon() {
    say "starting: berthd --live-restore --config-file $CONFIG   (log: $LOG)"
    # Own session, stdin closed: the daemon must not die with this shell.
    setsid berthd --live-restore --config-file "$CONFIG" </dev/null >>"$LOG" 2>&1 &
    local i
    for i in $(seq 1 200); do
        if ping_daemon; then
            DAEMON_PID=$(cat "$PIDFILE" 2>/dev/null || true)
            [ -n "$DAEMON_PID" ] || DAEMON_PID=$!
            echo "berthd is up (pid $DAEMON_PID) after $((i * 50)) ms"
            return 0
        fi
        sleep 0.05
    done
    tail -n 30 "$LOG" >&2
    die "berthd did not answer on $SOCK within 10 s"
}

container_pid() {
    local p
    p=$(berth inspect -f '{{.State.Pid}}' demo 2>/dev/null || true)
    if ! [[ "$p" =~ ^[0-9]+$ ]]; then
        p=$(berth inspect demo | grep -o '"Pid": *[0-9]*' | head -n 1 | grep -o '[0-9]*$' || true)
    fi
    echo "$p"
}

# A daemon left over from an earlier run of the demo: stop it (live restore keeps containers).
if ping_daemon; then
    old=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$old" ]; then
        say "stopping the berthd already running (pid $old)"
        kill "$old" || true
        for _ in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
fi
start_daemon

say "importing the busybox image (made offline from busybox-static)"
tar=$(mktemp --suffix=.tar)
scripts/mkrootfs.sh "$tar" >/dev/null
berth import "$tar" busybox:latest
rm -f "$tar"

berth rm -f demo >/dev/null 2>&1 || true
say "berth run -d --name demo busybox sh -c '<tick loop>'"
berth run -d --name demo busybox sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done'
sleep 3
berth ps
CPID=$(container_pid)
[ -n "$CPID" ] || die "could not read the container's pid"
echo "container process: pid $CPID"
berth logs --tail 3 demo

say "kill -9 $DAEMON_PID   (the daemon dies; the container must not notice)"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
sleep 5
if kill -0 "$DAEMON_PID" 2>/dev/null; then die "berthd still alive after SIGKILL?"; fi
echo "berthd (pid $DAEMON_PID) is gone. The container process:"
ps -o pid,ppid,etime,args -p "$CPID" || die "the container died with the daemon"

start_daemon
berth ps
NEWPID=$(container_pid)
if [ "$NEWPID" = "$CPID" ]; then
    echo "restored: same container process (pid $CPID)"
else
    die "container pid changed: $CPID -> $NEWPID"
fi
say "berth logs --tail 5 demo   (the ticks written while the daemon was dead are there)"
berth logs --tail 5 demo
berth logs demo | awk '
    $1 == "tick" { if (n != "" && $2 != n + 1) { printf "GAP: tick %s after tick %s\n", $2, n; bad = 1 } n = $2; c++ }
    END { if (!bad) printf "%d ticks, numbered 0..%d with no gap and no duplicate\n", c, n; exit bad }'

cat <<EOF

Berth is running with live restore (pid $(cat "$PIDFILE" 2>/dev/null || echo "$DAEMON_PID"), log $LOG).
Use it with the docker CLI or docker-py:
    export DOCKER_HOST=unix://$SOCK
    docker ps
Our own CLI talks to the same socket:  $BIN/berth ps
Stop the demo container and the daemon:
    $BIN/berth rm -f demo
    kill \$(cat $PIDFILE)        # with live restore, running containers keep running
EOF
