#!/bin/bash
# The real-host stage (issue 17): boots a stock Debian 12 (systemd, cgroup v2) under qemu
# (scripts/vm/) and runs scripts/realhost/guest.sh there against Berth installed from its package.
#   scripts/realhost/run.sh [--profile dev|release] [--timeout SECONDS]
# Exit status: the guest script's (non-zero if any check failed, 124 on timeout).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

profile=dev timeout=900
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) profile=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    *) die "usage: scripts/realhost/run.sh [--profile dev|release] [--timeout SECONDS]" ;;
    esac
done

ensure_vm_tools
stage=$(mktemp -d /tmp/berth-realhost.XXXXXX)
trap 'rm -rf "$stage"' EXIT
deb=$(bash scripts/package.sh --profile "$profile" --out "$stage")
scripts/mkrootfs.sh "$stage/busybox.tar" >/dev/null
docker_cli=$(command -v docker)
install -m 0755 "$docker_cli" "$stage/docker"
install -m 0755 scripts/realhost/guest.sh "$stage/test.sh"
say "booting Debian 12 with $(basename "$deb")"
bash scripts/vm/run.sh "$stage" --timeout "$timeout"
