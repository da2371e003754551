#!/usr/bin/env python3
"""Berth benchmark: the figures the engine-core issue names, measured through the real docker CLI.

Usage (as root, after `cargo build --release`):
    python3 bench/bench.py [--quick] [--bin-dir target/release] [--out bench-result.json]

Every daemon it starts has its own data-root, exec-root and socket under a temporary directory,
which is removed at the end. Figures are reported, never asserted; a figure that misses its
target is printed as a MISS.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def now():
    return time.monotonic()


class Daemon:
    """One berthd with private directories; killed and cleaned up by `close`."""

    def __init__(self, bin_dir, base, live_restore=True):
        self.bin_dir, self.base, self.live_restore = bin_dir, base, live_restore
        self.sock = os.path.join(base, "b.sock")
        self.cfg = os.path.join(base, "daemon.json")
        with open(self.cfg, "w") as f:
            f.write("{}")
        self.proc = None

    def args(self):
        a = [os.path.join(self.bin_dir, "berthd"), "--data-root", os.path.join(self.base, "data"),
             "--exec-root", os.path.join(self.base, "run"), "-H", "unix://" + self.sock,
             "--pidfile", os.path.join(self.base, "berthd.pid"), "--config-file", self.cfg]
        if self.live_restore:
            a.append("--live-restore")
        return a

    def start(self):
        """Starts the daemon; returns seconds until /_ping answered."""
        log = open(os.path.join(self.base, "daemon.log"), "a")
        t0 = now()
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=log, start_new_session=True)
        while True:
            if self.ping():
                return now() - t0
            if self.proc.poll() is not None:
                raise RuntimeError("berthd exited: see " + log.name)
            if now() - t0 > 20:
                raise RuntimeError("berthd did not answer within 20 s")
            time.sleep(0.0005)

    def ping(self):
        return self.http("GET", "/_ping", timeout=1)[0] == 200

    def http(self, method, path, timeout=10):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(f"{method} {path} HTTP/1.0\r\nHost: d\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            return int(head.split()[1]), body
        except OSError:
            return 0, b""

    def json(self, path):
        code, body = self.http("GET", path)
        return json.loads(body) if code == 200 else None

    def docker(self, *args, check=True):
        env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_CLI_HINTS="false")
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def kill(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # Every container and monitor this daemon started: kill by recorded pid, verified by start time.
        shims = os.path.join(self.base, "run", "shims")
        for cid in os.listdir(shims) if os.path.isdir(shims) else []:
            try:
                rec = json.load(open(os.path.join(shims, cid, "monitor.json")))
            except (OSError, ValueError):
                continue
            for pid, st in ((rec["container_pid"], rec["container_start_time"]), (rec["shim_pid"], rec["shim_start_time"])):
                if start_time(pid) == st:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        time.sleep(0.3)
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            mnt = line.split()[4]
            if mnt.startswith(self.base):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def start_time(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
        return int(s[s.rfind(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def busybox_tar(path):
    import io, tarfile
    apps = subprocess.check_output(["/bin/busybox", "--list"]).decode().split()
    with tarfile.open(path, "w") as t:
        for d, mode in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("proc", 0o755), ("sys", 0o755), ("dev", 0o755), ("root", 0o700)]:
            ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = mode; t.addfile(ti)
        t.add("/bin/busybox", "bin/busybox")
        for a in apps:
            if a != "busybox":
                ti = tarfile.TarInfo("bin/" + a); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"; t.addfile(ti)
        for name, body in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), ("etc/group", "root:x:0:\n")]:
            b = body.encode(); ti = tarfile.TarInfo(name); ti.size = len(b); t.addfile(ti, io.BytesIO(b))


def stats(xs):
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def new_daemon(args, live_restore=True):
    base = tempfile.mkdtemp(prefix="berth-bench-", dir="/tmp")
    d = Daemon(args.bin_dir, base, live_restore)
    d.start()
    tar = os.path.join(base, "bb.tar")
    busybox_tar(tar)
    d.docker("import", tar, "bb")
    return d


def bench_run(args, out):
    d = new_daemon(args)
    try:
        xs = []
        for _ in range(args.runs_d):
            t0 = now(); d.docker("run", "-d", "bb", "sleep", "1000"); xs.append(now() - t0)
        out["run_d_s"] = stats(xs)
        ys = []
        for _ in range(args.runs_rm):
            t0 = now(); d.docker("run", "--rm", "bb", "true"); ys.append(now() - t0)
        out["run_rm_s"] = stats(ys)
    finally:
        d.close()


def rss_pss(pid):
    rss = pss = 0
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def bench_restore(args, out):
    out["restore"] = {}
    for n in args.restore_n:
        d = new_daemon(args)
        try:
            for i in range(n):
                d.docker("run", "-d", "bb", "sleep", "100000")
            before = {c["Id"]: (c["State"]["Pid"], c["State"]["StartedAt"]) for c in
                      (d.json(f"/containers/{cid}/json") for cid in d.docker("ps", "-q", "--no-trunc").split())}
            if n == 50:
                shims = [json.load(open(os.path.join(d.base, "run", "shims", cid, "monitor.json")))["shim_pid"] for cid in before]
                mem = [rss_pss(p) for p in shims]
                out["monitor_rss_mib"] = statistics.mean(m[0] for m in mem)
                out["monitor_pss_mib"] = statistics.mean(m[1] for m in mem)
                out["daemon_rss_mib_50"] = rss_pss(d.proc.pid)[0]
            d.kill(signal.SIGKILL)
            t0 = now()
            api = d.start()
            while True:
                listed = d.json("/containers/json") or []
                if len([c for c in listed if c["State"] == "running" and "restoring" not in c["Status"]]) >= n:
                    break
                if now() - t0 > 60:
                    break
                time.sleep(0.002)
            all_running = now() - t0
            after = {cid: (c["State"]["Pid"], c["State"]["StartedAt"]) for cid, c in
                     ((cid, d.json(f"/containers/{cid}/json")) for cid in before)}
            same = sum(1 for cid in before if before[cid] == after.get(cid))
            out["restore"][str(n)] = {"api_answers_s": api, "all_running_s": all_running, "same_pid_and_start": f"{same}/{n}"}
        finally:
            d.close()


def bench_outage(args, out, sig):
    d = new_daemon(args)
    try:
        cid = d.docker("run", "-d", "bb", "sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); done")
        log = os.path.join(d.base, "data", "containers", cid, f"{cid}-json.log")
        def lines():
            try:
                return os.path.getsize(log)
            except OSError:
                return 0
        time.sleep(1)
        a = lines(); time.sleep(args.window); rate_before = (lines() - a) / args.window
        d.kill(sig)
        a = lines(); time.sleep(args.outage); rate_during = (lines() - a) / args.outage
        d.start()
        time.sleep(0.5)
        d.docker("stop", "-t", "1", cid)
        nums, bad = [], 0
        for line in open(log):
            v = json.loads(line)["log"].strip()
            if v.isdigit():
                nums.append(int(v))
            else:
                bad += 1
        gaps = sum(1 for x, y in zip(nums, nums[1:]) if y > x + 1)
        lost = sum(y - x - 1 for x, y in zip(nums, nums[1:]) if y > x + 1)
        dups = sum(1 for x, y in zip(nums, nums[1:]) if y <= x)
        name = "sigkill" if sig == signal.SIGKILL else "sigterm"
        out[f"outage_{name}"] = {"bytes_per_s_before": rate_before, "bytes_per_s_during": rate_during,
                                 "ratio": rate_during / rate_before if rate_before else 0,
                                 "lines": len(nums), "lost": lost, "gaps": gaps, "duplicated": dups, "partial": bad}
    finally:
        d.close()


def bench_no_live_restore(args, out):
    d = new_daemon(args, live_restore=False)
    try:
        for _ in range(6):
            d.docker("run", "-d", "--stop-timeout", "10", "bb", "sh", "-c", "trap '' TERM; while :; do sleep 1; done")
        time.sleep(0.5)
        t0 = now(); d.kill(signal.SIGTERM); out["shutdown_6_ignoring_term_s"] = now() - t0
        d.start()
        for _ in range(6):
            d.docker("run", "-d", "bb", "sleep", "1000")
        d.kill(signal.SIGKILL)
        out["start_after_crash_no_live_restore_api_s"] = d.start()
    finally:
        d.close()


TARGETS = [  # (key path, label, target, lower is better)
    (("run_d_s", "median"), "docker run -d, median (s)", 0.08, True),
    (("run_rm_s", "median"), "docker run --rm true, median (s)", None, True),
    (("monitor_rss_mib",), "monitor RSS, N=50 (MiB)", 1.5, True),
    (("monitor_pss_mib",), "monitor PSS, N=50 (MiB)", 0.3, True),
    (("daemon_rss_mib_50",), "daemon RSS with 50 containers (MiB)", 25, True),
    (("outage_sigkill", "ratio"), "writer rate during SIGKILL outage / before", 0.95, False),
    (("outage_sigkill", "lost"), "lines lost across SIGKILL outage", 0, True),
    (("outage_sigkill", "duplicated"), "lines duplicated across SIGKILL outage", 0, True),
    (("outage_sigterm", "ratio"), "writer rate during SIGTERM outage / before", 0.95, False),
    (("outage_sigterm", "lost"), "lines lost across SIGTERM outage", 0, True),
    (("outage_sigterm", "duplicated"), "lines duplicated across SIGTERM outage", 0, True),
    (("shutdown_6_ignoring_term_s",), "shutdown w/o live restore, 6 ignoring TERM, 10 s timeout (s)", 10.5, True),
    (("start_after_crash_no_live_restore_api_s",), "start after crash w/o live restore: API answers (s)", 0.05, True),
]


def get(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def report(out):
    rows = []
    for path, label, target, lower in TARGETS:
        v = get(out, path)
        verdict = "" if v is None or target is None else ("ok" if (v <= target if lower else v >= target) else "MISS")
        rows.append((label, "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)), "" if target is None else str(target), verdict))
    for n, r in sorted(out.get("restore", {}).items(), key=lambda kv: int(kv[0])):
        rows.append((f"restore N={n}: start -> API answers (s)", f"{r['api_answers_s']:.4f}", "0.05", "ok" if r["api_answers_s"] <= 0.05 else "MISS"))
        t = 0.2 if int(n) <= 200 else 1.0
        rows.append((f"restore N={n}: start -> all running, same pid ({r['same_pid_and_start']}) (s)", f"{r['all_running_s']:.4f}", str(t), "ok" if r["all_running_s"] <= t else "MISS"))
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'Berth':>10}  {'target':>7}  verdict")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>10}  {r[2]:>7}  {r[3]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin-dir", default=None)
    p.add_argument("--quick", action="store_true", help="small N, one repetition: keeps the benchmark working in CI")
    p.add_argument("--out", default="bench-result.json")
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.bin_dir is None:
        rel = os.path.join(root, "target", "release")
        args.bin_dir = rel if os.path.exists(os.path.join(rel, "berthd")) else os.path.join(root, "target", "debug")
    if args.quick:
        args.runs_d, args.runs_rm, args.restore_n, args.window, args.outage = 3, 2, [0, 5], 1, 2
    else:
        args.runs_d, args.runs_rm, args.restore_n, args.window, args.outage = 30, 20, [0, 50, 200], 5, 20
    out = {"machine": {"cores": os.cpu_count(), "loadavg_before": os.getloadavg(), "bin_dir": args.bin_dir,
                       "kernel": os.uname().release}}
    bench_run(args, out)
    bench_restore(args, out)
    if args.quick:
        out["monitor_rss_mib"] = out.get("monitor_rss_mib")
    bench_outage(args, out, signal.SIGKILL)
    bench_outage(args, out, signal.SIGTERM)
    bench_no_live_restore(args, out)
    out["machine"]["loadavg_after"] = os.getloadavg()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"machine: {out['machine']}")
    report(out)


if __name__ == "__main__":
    main()
