#!/usr/bin/env python3
"""Boots one cache entry of scripts/vm/image.sh under qemu (TCG) with a host directory shared over
9p, streams what the guest's test script prints (the guest's /dev/ttyS1, a file here), and exits
with the script's exit code. Called by run.sh; see scripts/vm/README.md.

Exit codes: the script's own; 124 when it timed out (the guest's `timeout`, or this watchdog once
the script had started); 96 when the guest could not set the test up (share, copy, no test.sh);
97 when the guest never reported (qemu died, the kernel panicked, or boot took longer than
--boot-timeout); 98 when qemu could not be started.
"""
import argparse
import base64
import ctypes
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

EXIT_SETUP, EXIT_NO_REPORT, EXIT_QEMU = 96, 97, 98


def info(msg):
    sys.stderr.write("\033[1m==> %s\033[0m\n" % msg)
    sys.stderr.flush()


class Stop(Exception):
    pass


def on_signal(signum, _frame):
    raise Stop(signum)


def die_with_parent():
    # qemu must not outlive us, even if we are SIGKILLed (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entry", required=True)
    ap.add_argument("--share", required=True)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--boot-timeout", type=int, default=300)
    ap.add_argument("--out")
    ap.add_argument("--console")
    ap.add_argument("--mem", default="2048")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--append", default="")
    a = ap.parse_args()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    reap_stale_runs()
    tmp = tempfile.mkdtemp(prefix="berth-vm-run.")
    with open(os.path.join(tmp, "owner"), "w") as o:
        o.write("%d\n" % os.getpid())
    console = os.path.join(tmp, "console.log")
    results = os.path.join(tmp, "results.log")
    open(results, "wb").close()
    share = os.path.abspath(a.share).replace(",", ",,")
    cmdline = ("root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=5 "
               "berth_vm.timeout=%d %s" % (a.timeout, a.append)).strip()
    cmd = ["qemu-system-x86_64", "-nodefaults", "-accel", "tcg", "-cpu", "max",
           "-m", a.mem, "-smp", a.smp, "-display", "none", "-vga", "none", "-monitor", "none",
           "-serial", "file:" + console, "-serial", "file:" + results,
           "-kernel", os.path.join(a.entry, "vmlinuz"),
           "-initrd", os.path.join(a.entry, "initrd.img"), "-append", cmdline,
           "-drive", "file=%s,format=raw,if=virtio,snapshot=on" % os.path.join(a.entry, "rootfs.img").replace(",", ",,"),
           "-virtfs", "local,path=%s,mount_tag=host,security_model=none,readonly=on" % share,
           "-nic", "none", "-no-reboot"]
    env = dict(os.environ, TMPDIR=tmp)  # snapshot=on's overlay goes there, and with it
    qemu = None
    code = None
    reason = ""
    t0 = time.monotonic()
    t_start = t_end = None
    guest_script_s = None
    files_b64 = None
    try:
        try:
            qemu = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(tmp, "qemu.err"), "wb"),
                                    preexec_fn=die_with_parent)
        except OSError as e:
            info("cannot start qemu: %s" % e)
            return EXIT_QEMU
        info("vm: qemu pid %d, share %s, script timeout %d s" % (qemu.pid, a.share, a.timeout))
        deadline = t0 + a.boot_timeout
        pending = b""
        with open(results, "rb") as f:
            while code is None:
                alive = qemu.poll() is None
                chunk = f.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        line = raw.decode("utf-8", "replace").rstrip("\r")
                        if files_b64 is not None and line != "BERTH-VM-FILES-END":
                            files_b64.append(line)
                        elif line.startswith("BERTH-VM-BOOTED"):
                            info("vm: guest up after %.1f s (%s)" % (time.monotonic() - t0, line[16:]))
                        elif line.startswith("BERTH-VM-START"):
                            t_start = time.monotonic()
                            deadline = t_start + a.timeout + 90
                            info("vm: boot took %.1f s; test.sh starts (%s)" % (t_start - t0, line[15:]))
                        elif line.startswith("BERTH-VM-SETUP-FAILED"):
                            reason = line
                            info("vm: " + line)
                        elif line.startswith("BERTH-VM-SCRIPT-SECONDS"):
                            t_end = time.monotonic()
                            guest_script_s = line.split()[1]
                        elif line == "BERTH-VM-FILES-BEGIN":
                            files_b64 = []
                        elif line == "BERTH-VM-FILES-END":
                            save_files(files_b64, a.out)
                            files_b64 = None  # done; later lines are ordinary again
                        elif line.startswith("BERTH-VM-EXIT "):
                            code = int(line.split()[1])
                        else:
                            sys.stdout.write(line + "\n")
                            sys.stdout.flush()
                    continue
                if not alive:
                    reason = reason or "qemu exited (status %s) without the guest reporting" % qemu.returncode
                    break
                if time.monotonic() > deadline:
                    reason = ("test.sh still running %d s past its timeout" % 90 if t_start
                              else "the guest did not start test.sh within %d s" % a.boot_timeout)
                    break
                time.sleep(0.2)
    except Stop as e:
        reason = "interrupted by signal %d" % e.args[0]
        code = 128 + e.args[0]
        info("vm: %s; killing qemu (pid %d)" % (reason, qemu.pid) if qemu else "vm: " + reason)
    finally:
        if qemu is not None and qemu.poll() is None:
            try:  # the guest powers itself off once it has reported; no need to wait long
                qemu.wait(timeout=1 if code is not None else 0.1)
            except subprocess.TimeoutExpired:
                qemu.kill()
                qemu.wait()
        if code is None or reason:
            try:
                with open(os.path.join(tmp, "qemu.err"), "rb") as e:
                    err = e.read().decode("utf-8", "replace").strip()
                if err:
                    info("qemu stderr:\n" + err[-2000:])
                with open(console, "rb") as c:
                    tail = c.read().decode("utf-8", "replace").splitlines()[-40:]
                info("vm: last lines of the guest console:\n" + "\n".join(tail))
            except OSError:
                pass
        if a.console:
            try:
                shutil.copyfile(console, a.console)
            except OSError as e:
                info("vm: could not save the console: %s" % e)
        shutil.rmtree(tmp, ignore_errors=True)

    total = time.monotonic() - t0
    if code is None:
        code = 124 if t_start is not None else EXIT_NO_REPORT
        info("vm: %s -> exit %d" % (reason, code))
    if t_start is not None:
        ran = (t_end or time.monotonic()) - t_start
        info("vm: boot %.1f s, test.sh %.1f s (guest clock %s s), total %.1f s, exit %d"
             % (t_start - t0, ran, guest_script_s or "?", total, code))
    return code


def reap_stale_runs():
    # The temp dir of a run that was SIGKILLed (its qemu died with it: PR_SET_PDEATHSIG).
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        d = os.path.join(base, name)
        if not name.startswith("berth-vm-run."):
            continue
        try:
            with open(os.path.join(d, "owner")) as o:
                pid = int(o.read())
        except (OSError, ValueError):
            continue  # being set up, or not ours
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def save_files(lines, out):
    data = base64.b64decode("".join(lines))
    if not out:
        info("vm: the guest sent back files (%d bytes of tar.gz); pass --out DIR to keep them" % len(data))
        return
    os.makedirs(out, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        t.extractall(out, filter="data")
    info("vm: the guest's files are in %s" % out)


if __name__ == "__main__":
    sys.exit(main())
