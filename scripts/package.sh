#!/bin/bash
# Builds the Debian package, berth_<version>-1_amd64.deb, with cargo-deb (metadata in
# crates/berthd/Cargo.toml: the four binaries, contrib/systemd's units, contrib/etc/daemon.json as
# a conffile, contrib/debian's maintainer scripts). Prints the package's path on stdout.
#   scripts/package.sh [--profile release|dev] [--out DIR]
# The test suite packages its debug build (stripped) so that it does not pay a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

profile=release out=target/debian
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "usage: scripts/package.sh [--profile release|dev] [--out DIR]" ;;
    esac
done

ensure_base
ensure_cargo_deb
if [ "$profile" = release ]; then
    cargo build --release -p berthd -p berth-shim -p berth-runtime -p berth-cli >&2
else
    cargo build --profile "$profile" -p berthd -p berth-shim -p berth-runtime -p berth-cli >&2
fi
mkdir -p "$out"
version=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "berthd"))')
deb="$out/berth_${version}-1_amd64.deb"
fast=()
[ "$profile" = release ] || fast=(--fast)
cargo deb -p berthd --no-build --profile "$profile" --strip "${fast[@]}" -o "$deb" >&2
echo "$deb"
