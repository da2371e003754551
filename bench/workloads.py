"""The workloads of issue 6. Each takes a list of engine factories (Berth first, then Docker when present)
and records figures under out[<workload>][<engine name>]. Where both engines take repeated samples, the
samples alternate A B A B so drift on a noisy machine hits both alike."""
import json, os, signal, socket, statistics, subprocess, threading, time

from engines import now, rss_pss


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def up(factory, **kw):
    e = factory(**kw)
    try:
        e.start()
        e.import_busybox()
    except Exception:
        e.close()
        raise
    return e


def with_engines(factories, fn, **kw):
    """Starts one engine per factory, runs fn(engines), closes them all whatever happens."""
    engines = []
    try:
        for f in factories:
            engines.append(up(f, **kw))
        return fn(engines)
    finally:
        for e in engines:
            e.close()


def bench_run(args, factories, out):
    def go(engines):
        d = {e.name: [] for e in engines}
        rm = {e.name: [] for e in engines}
        for _ in range(args.runs_d):
            for e in engines:
                t0 = now(); e.run("sleep", "1000"); d[e.name].append(now() - t0)
        for _ in range(args.runs_rm):
            for e in engines:
                t0 = now(); e.run("true", detach=False, extra=["--rm"]); rm[e.name].append(now() - t0)
        # The seccomp filter's share of a start (issue 13): the same start without it, alternated
        # with a filtered one so that the machine's drift hits both alike.
        filt = {e.name: [] for e in engines}
        unconf = {e.name: [] for e in engines}
        for _ in range(args.runs_rm):
            for e in engines:
                t0 = now(); e.run("true", detach=False, extra=["--rm"]); filt[e.name].append(now() - t0)
                t0 = now(); e.run("true", detach=False, extra=["--rm", "--security-opt", "seccomp=unconfined"])
                unconf[e.name].append(now() - t0)
        out["run_d_s"] = {k: stats(v) for k, v in d.items()}
        out["run_rm_s"] = {k: stats(v) for k, v in rm.items()}
        out["seccomp_cost_s"] = {k: statistics.median(filt[k]) - statistics.median(unconf[k]) for k in filt}
    with_engines(factories, go)


def listed_state(e, ids):
    res = {}
    for cid in ids:
        c = e.json(f"/containers/{cid}/json")
        res[cid] = (c["State"]["Pid"], c["State"]["StartedAt"]) if c and c["State"].get("Running") else None
    return res


def bench_restore(args, factories, out):
    """N containers running, kill -9 of the API daemon, start it again: seconds until /_ping answers and
    until all N are listed running; then checks each kept its pid and StartedAt. At N=50 it also measures
    the monitors' and daemons' memory."""
    res = out.setdefault("restore", {})

    def go(engines, n):
        r = {e.name: {"api": [], "all": [], "same": []} for e in engines}
        before = {}
        for e in engines:
            for _ in range(n):
                e.run("sleep", "100000")
            before[e.name] = listed_state(e, e.docker("ps", "-q", "--no-trunc").split())
        if n == args.mem_n:
            out["memory_n"] = n
            mem = out.setdefault("memory", {})
            for e in engines:
                m = [rss_pss(p) for p in e.monitor_pids()]
                parts = {k: rss_pss(p)[0] for k, p in e.daemon_pids().items()}
                mem[e.name] = {"monitors": len(m),
                               "monitor_rss_mib": statistics.mean(x[0] for x in m) if m else None,
                               "monitor_pss_mib": statistics.mean(x[1] for x in m) if m else None,
                               "daemon_rss_mib": sum(parts.values()), "daemon_rss_parts_mib": parts}
        for _ in range(args.reps):
            for e in engines:
                e.kill(signal.SIGKILL)
                t0 = now()
                api = e.start()
                while True:
                    listed = e.json("/containers/json") or []
                    if len([c for c in listed if c.get("State") == "running" and "restoring" not in c.get("Status", "")]) >= n:
                        break
                    if now() - t0 > 120:
                        break
                    time.sleep(0.002)
                all_running = now() - t0
                after = listed_state(e, before[e.name])
                same = sum(1 for cid, v in before[e.name].items() if v is not None and after.get(cid) == v)
                r[e.name]["api"].append(api); r[e.name]["all"].append(all_running); r[e.name]["same"].append(same)
        res[str(n)] = {k: {"api_answers_s": stats(v["api"]), "all_running_s": stats(v["all"]),
                           "same_pid_and_start": f"{min(v['same'])}/{n}"} for k, v in r.items()}

    for n in args.restore_n:
        with_engines(factories, lambda engines: go(engines, n))


def count_lines(path):
    """Parses the writer's output: consecutive integers, one a line."""
    nums, bad = [], 0
    with open(path, errors="replace") as f:
        for line in f:
            v = line.strip()
            if v.isdigit():
                nums.append(int(v))
            elif v:
                bad += 1
    lost = sum(y - x - 1 for x, y in zip(nums, nums[1:]) if y > x + 1)
    gaps = sum(1 for x, y in zip(nums, nums[1:]) if y > x + 1)
    dups = sum(1 for x, y in zip(nums, nums[1:]) if y <= x)
    return {"lines": len(nums), "lost": lost, "gaps": gaps, "duplicated": dups, "partial": bad}


def bench_outage(args, factories, out, sig):
    """A container printing lines flat out; the API daemon is stopped by `sig` for `outage` seconds.
    Rate = growth of the engine's json log file before, during and after the outage; the ratio is
    during ÷ mean(before, after). Lines lost or duplicated
    are counted from `docker logs` after the restart."""
    name = "sigkill" if sig == signal.SIGKILL else "sigterm"
    res = out.setdefault(f"outage_{name}", {})
    for f in factories:  # one engine at a time: the writer takes a whole core
        def go(engines):
            e = engines[0]
            cid = e.run("sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); done")
            log = e.log_file(cid)
            size = lambda: os.path.getsize(log) if os.path.exists(log) else 0
            time.sleep(1)
            a = size(); time.sleep(args.window); before = (size() - a) / args.window
            e.kill(sig)
            a = size(); time.sleep(args.outage); during = (size() - a) / args.outage
            e.start()
            # The log file's own growth slows a flat-out writer over time (a control with the
            # daemon alive throughout drops ~8% from one 20 s window to the next): the outage is
            # compared with the mean of equal windows before it and after the restart.
            a = size(); time.sleep(args.window); after = (size() - a) / args.window
            e.docker("kill", cid)
            time.sleep(0.5)
            dump = os.path.join(e.base, "writer.out")
            with open(dump, "w") as fh:
                e.docker("logs", cid, stdout=fh)
            r = count_lines(dump)
            os.unlink(dump)
            around = (before + after) / 2
            r.update({"log_bytes_per_s_before": before, "log_bytes_per_s_during": during,
                      "log_bytes_per_s_after": after, "ratio_to_before": during / before if before else 0.0,
                      "ratio": during / around if around else 0.0})
            res[e.name] = r
        with_engines([f], go)


def bench_no_live_restore(args, factories, out):
    """Without live restore: SIGTERM with 6 containers that ignore SIGTERM and --stop-timeout 10 (seconds
    until the daemon exits), then kill -9 with 6 running containers and a start (seconds until /_ping)."""
    shut, crash = {}, {}

    def go(engines):
        for e in engines:
            for _ in range(6):
                e.run("sh", "-c", "trap '' TERM; while :; do sleep 1; done", extra=["--stop-timeout", "10"])
        time.sleep(0.5)
        for e in engines:
            shut[e.name] = e.kill(signal.SIGTERM)
        for e in engines:
            e.start()
            for _ in range(6):
                e.run("sleep", "1000")
        for e in engines:
            e.kill(signal.SIGKILL)
            crash[e.name] = e.start()
    with_engines(factories, go, live_restore=False)
    out["shutdown_6_ignoring_term_s"] = shut
    out["start_after_crash_no_live_restore_api_s"] = crash


def bench_ports(args, factories, out):
    """A port published on the host, served by busybox httpd. Three clients send a request every
    20 ms (bounded in count and time) through an outage (SIGKILL, then SIGTERM) and the restart:
    from the host to 127.0.0.1, from the host to its address on the engine's bridge, and from
    another container to that address (hairpin). Failed requests are counted per phase."""
    res = out.setdefault("ports", {})
    for i, f in enumerate(factories):
        port = 18080 + i

        def go(engines):
            e = engines[0]
            e.run_flags = []
            e.run("sh", "-c", "echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp", extra=["-p", f"{port}:80"])
            gw = getattr(e, "gateway", None)
            probe = None
            if gw:
                probe = e.run("sh", "-c", f"while :; do if printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {gw} {port} "
                                          "| grep -q ok; then r=ok; else r=fail; fi; echo \"$(date +%s) $r\"; sleep 0.02; done")
            time.sleep(1)
            for sig in (signal.SIGKILL, signal.SIGTERM):
                res.setdefault(sig.name.lower(), {})[e.name] = port_clients_through(e, port, gw, probe, sig, args.port_outage)
        with_engines([f], go)


def http_ok(addr, port):
    try:
        s = socket.create_connection((addr, port), timeout=2)
        s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.")
        s.close()
        return ok
    except OSError:
        return False


def port_clients_through(e, port, gw, probe, sig, outage):
    stop = threading.Event()
    paths = ["127.0.0.1"] + ([gw] if gw else [])
    counts = {a: {"before": [0, 0], "outage": [0, 0], "after": [0, 0]} for a in paths}
    phase = ["before"]

    def client(addr):
        sent = 0
        while not stop.is_set() and sent < 200000:
            sent += 1
            counts[addr][phase[0]][0 if http_ok(addr, port) else 1] += 1
            time.sleep(0.02)
    threads = [threading.Thread(target=client, args=(a,)) for a in paths]
    for t in threads:
        t.start()
    time.sleep(2)
    marks = {"outage": time.time()}
    phase[0] = "outage"
    e.kill(sig)
    time.sleep(outage)
    e.start()
    marks["after"] = time.time()
    phase[0] = "after"
    time.sleep(3)
    marks["end"] = time.time()
    stop.set()
    for t in threads:
        t.join()
    out = {("host 127.0.0.1" if a == "127.0.0.1" else "host bridge address"): {p: {"ok": c[0], "failed": c[1]} for p, c in v.items()}
           for a, v in counts.items()}
    if probe:
        out["other container"] = container_counts(e, probe, marks)
    return out


def container_counts(e, cid, marks):
    """ok/fail lines the in-container client printed, split by phase by the time the container
    wrote on each (seconds: an engine that reads the log late must not move lines between phases)."""
    text = e.docker("logs", cid)
    c = {"before": [0, 0], "outage": [0, 0], "after": [0, 0]}
    for line in text.splitlines():
        ts, _, word = line.partition(" ")
        try:
            t = int(ts)
        except ValueError:
            continue
        if t >= marks["end"]:
            continue
        p = "before" if t < marks["outage"] else "outage" if t < marks["after"] else "after"
        c[p][0 if word.strip() == "ok" else 1] += 1
    return {p: {"ok": v[0], "failed": v[1]} for p, v in c.items()}
