#!/bin/bash
# run.sh HOST-DIR [--timeout SECONDS] [--out DIR] [--console FILE] [--boot-timeout SECONDS]
# Boots the cached Debian 12 guest (scripts/vm/image.sh builds it when missing) with HOST-DIR
# shared read-only; the guest copies it to /opt/berth-vm/ and runs /opt/berth-vm/test.sh as root,
# with BERTH_VM_OUT=/opt/berth-vm-out: what the script leaves there comes back into --out DIR.
# The script's output is streamed here; exits with its code, 124 on timeout, 96 when the guest
# could not set the test up, 97 when it never reported, 98 when qemu would not start.
# Each run has its own temp dir (removed) and its own qemu (killed by pid, at the latest when
# this run ends). See scripts/vm/README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: run.sh HOST-DIR [--timeout SECONDS] [--out DIR] [--console FILE] [--boot-timeout SECONDS]" >&2; exit 2; }
[ $# -ge 1 ] || usage
share=$1; shift
timeout=${BERTH_VM_TIMEOUT:-600}
boot_timeout=${BERTH_VM_BOOT_TIMEOUT:-300}
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --timeout) timeout=${2:?}; shift 2 ;;
        --boot-timeout) boot_timeout=${2:?}; shift 2 ;;
        --out) extra+=(--out "${2:?}"); shift 2 ;;
        --console) extra+=(--console "${2:?}"); shift 2 ;;
        *) usage ;;
    esac
done
[[ $timeout =~ ^[0-9]+$ && $boot_timeout =~ ^[0-9]+$ ]] || usage
[ -f "$share/test.sh" ] || { echo "run.sh: $share/test.sh not found" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: qemu-system-x86_64 missing (ensure_vm_tools in scripts/lib.sh)" >&2; exit 2; }
entry=$("$here/image.sh")
exec python3 "$here/boot.py" --entry "$entry" --share "$share" --timeout "$timeout" \
    --boot-timeout "$boot_timeout" --mem "${BERTH_VM_MEM:-2048}" --smp "${BERTH_VM_SMP:-2}" \
    --append "${BERTH_VM_APPEND:-}" ${extra[@]+"${extra[@]}"}
