#!/bin/bash
# Lists what Berth's tests may leave in the kernel and on disk: test bridges and veths, nftables
# tables, network namespaces, mounts and directories under /tmp/bt-*, container cgroups, test
# daemons' cgroup parents, monitor processes, test registries (process and /tmp/berth-registry-*
# directory). `snapshot FILE` records the current set; `compare FILE` prints what is new since and
# exits 1 if anything is.
set -euo pipefail

current() {
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(bt[0-9a-f]{8}|br-[0-9a-f]{12}|vb[0-9a-f]{10}|bb[0-9]+x[0-9]+)' | sed 's/^/link /' || true
    nft list tables 2>/dev/null | awk '{print $3}' | grep -E '^berth_(bt|bb|br_)' | sed 's/^/nft-table /' || true
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^bt' | sed 's/^/netns /' || true
    awk '{print $5}' /proc/self/mountinfo | grep -E '^/tmp/bt-' | sed 's/^/mount /' || true
    ls -d /tmp/bt-* /tmp/berth-registry-* 2>/dev/null | sed 's/^/dir /' || true
    for h in /sys/fs/cgroup/*/berth /sys/fs/cgroup/berth; do
        [ -d "$h" ] && find "$h" -mindepth 1 -maxdepth 1 -type d | sed 's/^/cgroup /'
    done || true
    # Test daemons' own cgroup parents (--cgroup-parent /bt<8 hex>).
    find /sys/fs/cgroup /sys/fs/cgroup/*/ -regextype posix-extended -mindepth 1 -maxdepth 1 -type d -regex '.*/bt[0-9a-f]{8}' 2>/dev/null | sed 's/^/cgroup-parent /' || true
    # The cgroups tests put their daemons in (monitor_cgroups.rs).
    find /sys/fs/cgroup /sys/fs/cgroup/*/ -mindepth 1 -maxdepth 1 -type d -name 'berth-test-*' 2>/dev/null | sed 's/^/cgroup-test /' || true
    for p in /proc/[0-9]*; do
        # A process may end between the glob and the read: the redirection's error is silenced too.
        cmd=$( { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null ) || continue
        grep -q '^[^ ]*berth-shim --config /tmp/bt-' <<< "$cmd" && echo "monitor ${p#/proc/}"
        grep -q '^[^ ]*docker-registry serve /tmp/berth-registry-' <<< "$cmd" && echo "registry ${p#/proc/}"
    done || true
}

case "${1:-}" in
    snapshot) current | sort > "$2" ;;
    compare)
        new=$(comm -13 "$2" <(current | sort))
        if [ -n "$new" ]; then
            echo "left behind by the tests:"
            echo "$new" | sed 's/^/  /'
            exit 1
        fi
        echo "leak check: nothing left behind"
        ;;
    *) current ;;
esac
