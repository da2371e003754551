# Shared set-up for scripts/test.sh and scripts/demo.sh (sourced, not run).
# Installs what Berth needs on Debian 12, idempotently: nothing is fetched when everything is there,
# and `apt-get update` runs at most once per run, only when a package is missing.

BERTH_APT_UPDATED=${BERTH_APT_UPDATED:-0}
DOCKER_CLI_VERSION=${DOCKER_CLI_VERSION:-28.2.2}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt_install PKG...: installs the missing ones among PKG (needs root).
apt_install() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    is_root || die "missing packages (${missing[*]}); run as root or install them first"
    if [ "$BERTH_APT_UPDATED" != 1 ]; then
        say "apt-get update"
        apt-get update -qq
        BERTH_APT_UPDATED=1
    fi
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

# Packages for building and running Berth (the demo needs nothing more).
ensure_base() {
    local pkgs=(busybox-static libseccomp-dev libc6-dev libelf-dev zlib1g-dev make nftables iptables runc pkg-config tmux ca-certificates openssl curl iproute2 procps tini)
    command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
    command -v git >/dev/null 2>&1 || pkgs+=(git)
    apt_install "${pkgs[@]}"
    ensure_rust
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        say "installing the Rust toolchain (rustup, stable, minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
}

# Clients the end-to-end tests drive: the docker CLI, docker-py 7.1, and cargo-nextest.
ensure_test_tools() {
    if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null 2>&1; then
        is_root || die "the docker CLI is missing; run as root to install it"
        say "installing the docker CLI ${DOCKER_CLI_VERSION} (client only) to /usr/local/bin"
        local tmp; tmp=$(mktemp -d)
        curl -fsSL "https://download.docker.com/linux/static/stable/x86_64/docker-${DOCKER_CLI_VERSION}.tgz" \
            | tar -xz -C "$tmp" docker/docker
        install -m 0755 "$tmp/docker/docker" /usr/local/bin/docker
        rm -rf "$tmp"
    fi
    if ! python3 -c 'import docker' >/dev/null 2>&1; then
        say "installing docker-py 7.1.0"
        if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
        python3 -m pip install -q docker==7.1.0 \
            || python3 -m pip install -q --break-system-packages docker==7.1.0
    fi
    if ! pkg_installed docker-registry || ! pkg_installed apache2-utils; then
        # The registry tests start their own registry on 127.0.0.1 (issue 7); the package's
        # service must not start on the machine's :5000, so service starts are refused meanwhile.
        local policy=/usr/sbin/policy-rc.d own_policy=0
        if [ ! -e "$policy" ] && is_root; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
        fi
        apt_install docker-registry apache2-utils
        if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
    fi
    # Debian's docker-compose 1.29 (its own python3-docker underneath): the compose end-to-end test.
    apt_install docker-compose
    if ! cargo nextest --version >/dev/null 2>&1; then
        say "installing cargo-nextest (prebuilt)"
        curl -LsSf https://get.nexte.st/latest/linux | tar -xz -C "${CARGO_HOME:-$HOME/.cargo}/bin"
    fi
}

# cargo-deb for scripts/package.sh, pinned (built from crates.io: about a minute).
CARGO_DEB_VERSION=${CARGO_DEB_VERSION:-3.8.0}
ensure_cargo_deb() {
    if cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then return 0; fi
    say "cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install -q --locked cargo-deb --version "$CARGO_DEB_VERSION"
}

# What docker-py's own suite needs (scripts/peer.sh): docker-py 7.1 and pytest with the plugins and
# extras the suite imports, pinned to the versions scripts/peer-expected.txt was measured with.
PEER_PY_PKGS=(docker==7.1.0 pytest==9.2.0 pytest-timeout==2.4.0 paramiko==5.1.0 websocket-client==1.9.2)
ensure_peer_tools() {
    if python3 - "${PEER_PY_PKGS[@]}" <<'PY'
import sys, importlib.metadata as md
def have(spec):
    name, ver = spec.split("==")
    try:
        return md.version(name) == ver
    except md.PackageNotFoundError:
        return False
sys.exit(0 if all(have(s) for s in sys.argv[1:]) else 1)
PY
    then return 0; fi
    is_root || die "python packages missing (${PEER_PY_PKGS[*]}); run as root"
    say "pip install ${PEER_PY_PKGS[*]}"
    if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
    python3 -m pip install -q --root-user-action=ignore "${PEER_PY_PKGS[@]}" \
        || python3 -m pip install -q --root-user-action=ignore --break-system-packages "${PEER_PY_PKGS[@]}"
}

# What the host needs for scripts/vm/ (a Debian 12 guest under qemu, software emulation):
# qemu-system-x86 to boot it, debootstrap to build its root, e2fsprogs for mkfs.ext4 -d.
ensure_vm_tools() {
    apt_install qemu-system-x86 debootstrap e2fsprogs debian-archive-keyring ca-certificates
}
