"""Issue 16's figures: `docker build` with the classic builder (DOCKER_BUILDKIT=0, `POST /build`), cold and
warm, of a 10-instruction Dockerfile whose context is ~50 MB, wall time of the docker CLI on each engine.

The context is made once per run in a temporary directory: `files_mb` files of 1 MiB of random bytes
(ctx/big/), 200 small text files (ctx/small/) and the Dockerfile below, FROM the busybox image every engine
imports as `bb`. Cold is `docker build --no-cache` (the base image is present, nothing else is used);
warm is the same build again right after, with the cache. Both are run with `--network none` (neither
engine has a bridge in the benchmark). A cold build must print no "Using cache" and a warm one must print
it once for each of the 9 steps after FROM; the first image each engine builds must hold the checksum of
the context's big files that the host computed. An engine that fails any of these gets an error, not a
figure. The engines alternate A B A B; the image (and with it its cache) is removed after every
repetition, and everything goes with the engines at the end."""
import hashlib, os, shutil, subprocess, tempfile

from engines import DOCKER, now

TAG = "bench-build:1"

DOCKERFILE = """FROM bb
ENV BENCH=build PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /work
COPY ctx/ /ctx/
RUN cat /ctx/big/* | md5sum > /sum
RUN mkdir -p /a && echo x > /a/x
RUN for i in $(seq 1 100); do echo $i > /a/f$i; done
LABEL bench.workload=build bench.issue=16
RUN ls /ctx/small | wc -l > /a/small && cat /a/small
CMD ["cat", "/sum"]
"""
# Instructions after FROM: each one is a cached step in a warm build.
STEPS = sum(1 for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("FROM "))


def make_context(files_mb):
    """Returns (directory, the md5sum of ctx/big/* concatenated in name order, bytes in ctx/)."""
    d = tempfile.mkdtemp(prefix="berth-bench-build-")
    big, small = os.path.join(d, "ctx", "big"), os.path.join(d, "ctx", "small")
    os.makedirs(big)
    os.makedirs(small)
    md5, total = hashlib.md5(), 0
    for i in range(files_mb):
        data = os.urandom(2**20)
        with open(os.path.join(big, f"f{i:03d}.bin"), "wb") as f:
            f.write(data)
        md5.update(data)
        total += len(data)
    for i in range(200):
        body = (f"small file {i}\n" * (1 + i % 64)).encode()
        with open(os.path.join(small, f"s{i:03d}.txt"), "wb") as f:
            f.write(body)
        total += len(body)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return d, md5.hexdigest(), total


def build(e, ctx, no_cache):
    """One `docker build` through the engine's socket with the classic builder; (seconds, output)."""
    env = dict(e.env(), DOCKER_BUILDKIT="0")
    cmd = [DOCKER, "build", "--network", "none", "-t", TAG, *(["--no-cache"] if no_cache else []), ctx]
    t0 = now()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    dt = now() - t0
    if r.returncode != 0:
        # When the daemon answers before reading the whole context the CLI only says "broken pipe":
        # what the endpoint answers to an empty request says whether it exists at all.
        code, body = e.http("POST", "/build")
        raise RuntimeError(f"docker build{' --no-cache' if no_cache else ''} exited {r.returncode}: {tail(r.stdout)} "
                           f"(POST /build with no context: HTTP {code} {body[:120].decode(errors='replace').strip()})")
    return dt, r.stdout


def tail(text, n=400):
    """The end of a build's output on one line, without the CLI's notice that the legacy builder is
    deprecated (a "DEPRECATED:" line and its indented continuation)."""
    keep, notice = [], False
    for line in text.strip().splitlines():
        notice = line.startswith("DEPRECATED:") or (notice and line[:1].isspace())
        if not notice and line.strip() and not line.startswith('time="'):
            keep.append(line.strip())
    text = " | ".join(keep)
    return text if len(text) <= n else "..." + text[-n:]


def check_image(e, want_sum):
    got = e.docker("run", "--rm", *e.run_flags, TAG).split()
    if not got or got[0] != want_sum:
        raise RuntimeError(f"the built image's /sum is {got[:1]}, the context's big files sum to {want_sum}")


def save_load_check(berth, docker, out):
    """Issue 16 point 5, against the real dockerd: Berth's built image, saved, loads into dockerd
    with the same id and the same layers."""
    path = tempfile.mktemp(prefix="berth-bench-save-", suffix=".tar")
    try:
        berth.docker("save", "-o", path, TAG)
        docker.docker("rmi", "-f", TAG, check=False)
        docker.docker("load", "-i", path)
        ids = [e.docker("image", "inspect", "-f", "{{.Id}} {{json .RootFS.Layers}}", TAG).strip() for e in (berth, docker)]
        out["build_save_load"] = {"berth": ids[0], "dockerd": ids[1], "same": ids[0] == ids[1]}
        if ids[0] != ids[1]:
            raise RuntimeError(f"dockerd loaded Berth's build as {ids[1]}, Berth has {ids[0]}")
    finally:
        if os.path.exists(path):
            os.unlink(path)


def bench_build(args, factories, out, up):
    reps, files_mb = args.build_reps, args.build_mb
    ctx, want_sum, total = make_context(files_mb)
    cold, warm, errors = {}, {}, {}
    engines = []
    try:
        for f in factories:
            engines.append(up(f))
        live = list(engines)

        def attempt(e, fn):
            try:
                fn()
            except Exception as ex:  # one engine's failure must not hide the other's figures
                errors[e.name] = " ".join(str(ex).split())[-600:] or repr(ex)
                live.remove(e)
                print(f"    build on {e.name} failed: {errors[e.name]}", flush=True)

        for rep in range(reps):
            for kind, no_cache, res in (("cold", True, cold), ("warm", False, warm)):
                for e in list(live):
                    def one(e=e):
                        dt, text = build(e, ctx, no_cache)
                        hits = text.count("Using cache")
                        want = 0 if no_cache else STEPS
                        if hits != want:
                            raise RuntimeError(f"{kind} build (rep {rep + 1}) printed 'Using cache' {hits} times, "
                                               f"not {want}: {tail(text)}")
                        if rep == 0:
                            check_image(e, want_sum)
                        res.setdefault(e.name, []).append(dt)
                    attempt(e, one)
            if rep == 0 and len(live) == 2:
                try:
                    save_load_check(live[0], live[1], out)
                except Exception as ex:  # recorded; the timings stand on their own
                    out.setdefault("errors", {})["build save/load into dockerd"] = " ".join(str(ex).split())[-600:]
            # The image and the intermediate images it was made of (its cache) go, so the next cold
            # build starts from the base image alone and disk does not fill.
            for e in list(live):
                attempt(e, lambda e=e: e.docker("rmi", TAG))
    finally:
        for e in engines:
            try:
                e.docker("rmi", "-f", TAG, check=False)
            except Exception:
                pass
            e.close()
        shutil.rmtree(ctx, ignore_errors=True)
    from workloads import stats
    ok = lambda d: {e.name: stats(d.get(e.name, [])) if e.name not in errors else None for e in engines}
    out["build_context_mb"] = round(total / 1e6, 1)
    out["build_reps"] = reps
    out["build_cold_s"] = ok(cold)
    out["build_warm_s"] = ok(warm)
    b, d = out["build_cold_s"].get("berth"), out["build_cold_s"].get("docker")
    bw, dw = out["build_warm_s"].get("berth"), out["build_warm_s"].get("docker")
    out["build_ratio"] = {"cold": b["median"] / d["median"] if b and d else None, "cold_target": 0.5,
                          "warm": bw["median"] / dw["median"] if bw and dw else None, "warm_target": 0.2}
    if errors:
        out.setdefault("errors", {}).update({f"build ({k})": v for k, v in errors.items()})
