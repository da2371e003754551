#!/bin/bash
# peer.sh [--no-build] [--update-expected] [-- PYTEST_ARGS...]
# Runs docker-py 7.1.0's own integration suite (../shared/peer/, see its README) against a berthd
# of its own, built from this checkout (debug), in a network namespace of its own, and compares the
# result with scripts/peer-expected.txt: exit 1 when a test fails that is not listed there (or when
# the run or its clean-up fails); a listed test that passes is printed, not failed.
#   --no-build          use the binaries as they are (scripts/test.sh has just built them)
#   --update-expected   rewrite scripts/peer-expected.txt from this run (reasons kept, new failures
#                       marked "berth: TODO"); exit 0
#   PYTEST_ARGS         extra pytest arguments, e.g. -k exec, or test paths and ids
#                       (tests/integration/api_exec_test.py::ExecTest) instead of the whole suite
# Results: target/peer/{junit.xml,pytest.log,daemon.log}. Environment: BERTH_BIN_DIR (default
# target/debug), BERTH_PEER_TARBALL (default ../shared/peer/docker-py-7.1.0-tests.tar.gz).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

build=1
opts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --update-expected) opts+=(--update-expected); shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done

target=${CARGO_TARGET_DIR:-target}
# A JUnit file of an earlier run must never be read as this run's.
rm -f "$target/peer/junit.xml"
is_root || die "scripts/peer.sh needs root (network namespace, cgroups, mounts)"
tarball=${BERTH_PEER_TARBALL:-../shared/peer/docker-py-7.1.0-tests.tar.gz}
[ -f "$tarball" ] || die "docker-py's suite not found at $tarball (set BERTH_PEER_TARBALL)"
ensure_base
ensure_peer_tools
if [ "$build" = 1 ]; then
    say "cargo build --workspace"
    cargo build --workspace
fi
say "docker-py 7.1.0's integration suite against berthd (scripts/peer.sh)"
exec python3 scripts/peer.py --bin-dir "${BERTH_BIN_DIR:-$target/debug}" --tarball "$tarball" \
    --out-dir "$target/peer" "${opts[@]}" -- "$@"
