"""Issue 7's figures: push and pull of a 200 MB, 5-layer image to and from a loopback registry (Debian's
docker-registry, started here on 127.0.0.1 with its own storage, fresh for every measurement), wall time of
the docker CLI, both engines alternating A B A B."""
import hashlib, io, json, os, shutil, socket, subprocess, tarfile, tempfile, time

from engines import now


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="berth-bench-registry-")
        self.addr = f"127.0.0.1:{free_port()}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    f"http:\n  addr: {self.addr}\n")
        self.log = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(tuple([self.addr.split(":")[0], int(self.addr.split(":")[1])]), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("the registry did not start")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def layered_archive(path, layers=5, layer_mb=40):
    """A Docker-format archive: `layers` layers of `layer_mb` MB each (half random, half text, so that
    compression has something to do), one file per layer."""
    diff_ids, names = [], []
    with tarfile.open(path, "w") as out:
        for i in range(layers):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as lt:
                half = layer_mb * 2**20 // 2
                data = os.urandom(half) + (b"berth benchmark line %d\n" % i) * (half // 26)
                ti = tarfile.TarInfo(f"data/layer{i}.bin")
                ti.size, ti.mtime = len(data), 1_700_000_000
                lt.addfile(ti, io.BytesIO(data))
            blob = buf.getvalue()
            diff_ids.append("sha256:" + hashlib.sha256(blob).hexdigest())
            name = f"layer{i}/layer.tar"
            ti = tarfile.TarInfo(name)
            ti.size = len(blob)
            out.addfile(ti, io.BytesIO(blob))
            names.append(name)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids},
                             "history": [{"created_by": f"layer {i}"} for i in range(layers)]}).encode()
        for name, data in (("config.json", config),
                           ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["big:1"], "Layers": names}]).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            out.addfile(ti, io.BytesIO(data))


def bench_registry(args, factories, out, up):
    if shutil.which("docker-registry") is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    reps = getattr(args, "registry_reps", 3)
    work = tempfile.mkdtemp(prefix="berth-bench-image-")
    archive = os.path.join(work, "big.tar")
    layered_archive(archive, layer_mb=args.registry_layer_mb)
    engines = []
    push, pull = {}, {}
    try:
        for f in factories:
            engines.append(up(f))
        for rep in range(reps):
            for e in engines:
                reg = Registry()
                try:
                    e.docker("load", "-i", archive)
                    name = f"{reg.addr}/bench/big:{rep}"
                    e.docker("tag", "big:1", name)
                    t0 = now(); e.docker("push", name); push.setdefault(e.name, []).append(now() - t0)
                    e.docker("rmi", name, "big:1")
                    t0 = now(); e.docker("pull", name); pull.setdefault(e.name, []).append(now() - t0)
                    e.docker("rmi", name)
                finally:
                    reg.close()
    finally:
        for e in engines:
            e.close()
        shutil.rmtree(work, ignore_errors=True)
    from workloads import stats
    out["registry_mb"] = 5 * args.registry_layer_mb
    out["push_s"] = {k: stats(v) for k, v in push.items()}
    out["pull_s"] = {k: stats(v) for k, v in pull.items()}
