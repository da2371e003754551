"""The two engines the benchmark drives through the same docker CLI: berthd, and dockerd + containerd.

Each engine gets its own data-root, exec-root, socket and pid files under a fresh temporary directory;
`close` kills only the processes this engine started (by pid), unmounts what lies under its directory
and removes it. Nothing here touches the host's default engine paths.
"""
import glob, io, json, os, shutil, signal, socket, subprocess, tarfile, tempfile, time

DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else (shutil.which("docker") or "docker")


def now():
    return time.monotonic()


def start_time(pid):
    """Start time of `pid` in clock ticks, so a recycled pid is never mistaken for ours."""
    try:
        s = open(f"/proc/{pid}/stat").read()
        return int(s[s.rfind(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def rss_pss(pid):
    """(RSS, PSS) of one process in MiB."""
    rss = pss = 0
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []


def busybox_tar(path):
    """A rootfs tarball made from /bin/busybox: the same image on both engines."""
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


def kill_verified(pid, st, sig=signal.SIGKILL):
    if pid and st is not None and start_time(pid) == st:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Engine:
    """Common part: the socket, the HTTP probe, the docker CLI and cleanup."""
    name = "?"
    # Flags added to every `docker run`: no networking on either side, since Berth's bridge is not built
    # yet and dockerd runs with --bridge none; the ports workload overrides this.
    run_flags = ["--network", "none"]

    def __init__(self, live_restore=True):
        self.live_restore = live_restore
        self.base = tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir="/tmp")
        self.sock = os.path.join(self.base, "engine.sock")
        self.cfg = os.path.join(self.base, "daemon.json")
        with open(self.cfg, "w") as f:
            f.write("{}")
        self.proc = None
        self.logf = open(os.path.join(self.base, "daemon.log"), "a")

    # ---- daemon lifecycle -------------------------------------------------------------------------
    def daemon_args(self):
        raise NotImplementedError

    def daemon_env(self):
        return None

    def start(self, timeout=60):
        """Starts the API daemon; returns seconds until /_ping answered."""
        t0 = now()
        self.proc = subprocess.Popen(self.daemon_args(), stdout=self.logf, stderr=self.logf,
                                     start_new_session=True, env=self.daemon_env())
        while True:
            if self.ping():
                return now() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} daemon exited: see {self.logf.name}")
            if now() - t0 > timeout:
                raise RuntimeError(f"{self.name} daemon did not answer within {timeout} s")
            time.sleep(0.0005)

    def kill(self, sig):
        """Signals the API daemon and waits for it to exit; returns the seconds that took."""
        t0 = now()
        self.proc.send_signal(sig)
        self.proc.wait()
        return now() - t0

    def daemon_pids(self):
        return {"daemon": self.proc.pid}

    def monitor_pids(self):
        raise NotImplementedError

    def log_file(self, cid):
        raise NotImplementedError

    # ---- client -----------------------------------------------------------------------------------
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
        except (OSError, ValueError, IndexError):
            return 0, b""

    def json(self, path):
        code, body = self.http("GET", path)
        try:
            return json.loads(body) if code == 200 else None
        except ValueError:
            return None

    def env(self):
        return dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_CLI_HINTS="false")

    def docker(self, *args, check=True, stdout=None):
        if stdout is not None:
            r = subprocess.run([DOCKER, *args], env=self.env(), stdout=stdout, stderr=subprocess.PIPE, text=True)
        else:
            r = subprocess.run([DOCKER, *args], env=self.env(), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {r.stderr.strip()}")
        return (r.stdout or "").strip()

    def run(self, *args, detach=True, extra=()):
        """`docker run [-d] <run_flags> <extra> bb <args>`; returns the container id when detached."""
        return self.docker("run", *(["-d"] if detach else []), *self.run_flags, *extra, "bb", *args)

    def import_busybox(self):
        tar = os.path.join(self.base, "bb.tar")
        busybox_tar(tar)
        self.docker("import", tar, "bb")
        os.unlink(tar)

    def remove_all(self):
        """Removes every container while the daemon still answers, so cgroups and mounts go cleanly."""
        if self.proc is None or self.proc.poll() is not None or not self.ping():
            return
        ids = self.docker("ps", "-aq", "--no-trunc", check=False).split()
        for i in range(0, len(ids), 50):
            subprocess.run([DOCKER, "rm", "-f", *ids[i:i + 50]], env=self.env(), capture_output=True, timeout=300)

    def unmount_and_remove(self):
        time.sleep(0.3)
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            mnt = line.split()[4]
            if mnt.startswith(self.base + "/"):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def remove_container_cgroups(ids, parent="berth"):
    """Killed containers get no `runtime delete`: their (empty) cgroups are removed here, then the
    parent when nothing else uses it. rmdir only succeeds on empty cgroups."""
    for _ in range(20):
        left = [d for i in ids for d in glob.glob(f"/sys/fs/cgroup/*/{parent}/{i}") if os.path.isdir(d)]
        for d in left:
            try:
                os.rmdir(d)
            except OSError:
                pass
        if not any(os.path.isdir(d) for d in left):
            break
        time.sleep(0.1)
    for d in glob.glob(f"/sys/fs/cgroup/*/{parent}"):
        try:
            os.rmdir(d)
        except OSError:
            pass


class Berth(Engine):
    name = "berth"
    count = 0

    def __init__(self, bin_dir, live_restore=True, runtime_env=None):
        self.bin_dir, self.runtime_env = bin_dir, runtime_env
        # Its own bridge, subnet and nftables table (named after the bridge), removed in close():
        # never the host's default berth0.
        n = os.getpid() % 200 + Berth.count
        Berth.count += 1
        self.bridge, self.bip = f"bb{os.getpid() % 100000}x{Berth.count}", f"10.214.{n % 250}.1/24"
        self.gateway = self.bip.split("/")[0]
        super().__init__(live_restore)

    def daemon_args(self):
        a = [os.path.join(self.bin_dir, "berthd"), "--data-root", os.path.join(self.base, "data"),
             "--exec-root", os.path.join(self.base, "run"), "-H", "unix://" + self.sock,
             "--pidfile", os.path.join(self.base, "berthd.pid"), "--config-file", self.cfg,
             "--bridge", self.bridge, "--bip", self.bip]
        if self.live_restore:
            a.append("--live-restore")
        return a

    def daemon_env(self):
        return dict(os.environ, **self.runtime_env) if self.runtime_env else None

    def monitor_records(self):
        shims = os.path.join(self.base, "run", "shims")
        out = []
        for cid in os.listdir(shims) if os.path.isdir(shims) else []:
            try:
                out.append(json.load(open(os.path.join(shims, cid, "monitor.json"))))
            except (OSError, ValueError):
                pass
        return out

    def monitor_pids(self):
        return [r["shim_pid"] for r in self.monitor_records() if start_time(r["shim_pid"]) == r.get("shim_start_time")]

    def log_file(self, cid):
        return os.path.join(self.base, "data", "containers", cid, f"{cid}-json.log")

    def close(self):
        try:
            self.remove_all()
        except Exception:
            pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # Whatever is left: every container and monitor this daemon started, by pid verified by start time.
        ids = []
        for rec in self.monitor_records():
            ids.append(rec.get("container_id"))
            kill_verified(rec.get("container_pid"), rec.get("container_start_time"))
            kill_verified(rec.get("shim_pid"), rec.get("shim_start_time"))
        remove_container_cgroups([i for i in ids if i])
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", "berth_" + self.bridge.replace("-", "_")], capture_output=True)
        self.unmount_and_remove()


class Docker(Engine):
    """dockerd 20.10 and its own containerd, both rooted under the temporary directory."""
    name = "docker"

    def __init__(self, live_restore=True, bridge=None, gateway=None):
        super().__init__(live_restore)
        self.bridge = bridge  # name of a bridge the caller created, for the ports workload
        self.gateway = gateway  # the host's address on it
        self.ctr_sock = os.path.join(self.base, "containerd.sock")
        self.ctr = None
        self.start_containerd()

    def start_containerd(self):
        conf = os.path.join(self.base, "containerd.toml")
        with open(conf, "w") as f:
            # Own root, state and socket; CRI off (it is not used, and it slows the start).
            f.write(f'version = 2\nroot = "{self.base}/containerd-root"\nstate = "{self.base}/containerd-state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{self.ctr_sock}"\n'
                    f'[ttrpc]\n  address = "{self.ctr_sock}.ttrpc"\n[debug]\n  address = ""\n[metrics]\n  address = ""\n')
        clog = open(os.path.join(self.base, "containerd.log"), "a")
        self.ctr = subprocess.Popen(["containerd", "--config", conf], stdout=clog, stderr=clog, start_new_session=True)
        t0 = now()
        while not os.path.exists(self.ctr_sock):
            if self.ctr.poll() is not None or now() - t0 > 30:
                raise RuntimeError("containerd did not start: see " + clog.name)
            time.sleep(0.01)

    def daemon_args(self):
        a = ["dockerd", "--data-root", os.path.join(self.base, "docker-data"),
             "--exec-root", os.path.join(self.base, "docker-exec"), "--pidfile", os.path.join(self.base, "docker.pid"),
             "-H", "unix://" + self.sock, "--containerd", self.ctr_sock, "--config-file", self.cfg,
             "--iptables=false", "--ip-masq=false", "--storage-driver", "overlay2"]
        a += ["--bridge", self.bridge or "none"]
        if self.live_restore:
            a.append("--live-restore")
        return a

    def daemon_pids(self):
        return {"dockerd": self.proc.pid, "containerd": self.ctr.pid}

    def monitor_pids(self):
        """containerd-shim-runc-v2 processes that belong to this containerd (matched by its socket)."""
        want = self.ctr_sock.encode()
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                c = cmdline(int(p))
                if c and c[0].endswith(b"containerd-shim-runc-v2") and want in c:
                    out.append(int(p))
        return out

    def log_file(self, cid):
        return os.path.join(self.base, "docker-data", "containers", cid, f"{cid}-json.log")

    def close(self):
        try:
            self.remove_all()
        except Exception:
            pass
        shims = [(p, start_time(p)) for p in self.monitor_pids()]
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill(); self.proc.wait()
        if self.ctr and self.ctr.poll() is None:
            self.ctr.terminate()
            try:
                self.ctr.wait(10)
            except subprocess.TimeoutExpired:
                self.ctr.kill(); self.ctr.wait()
        # Shims left behind (containers that outlived the removal): their container goes with them.
        for p, st in shims + [(p, start_time(p)) for p in self.monitor_pids()]:
            kill_verified(p, st)
        self.unmount_and_remove()


class HostPaths:
    """Host paths dockerd/containerd create even with their own roots (the shim socket directory
    /run/containerd/s, dockerd's /etc/docker/key.json): whatever did not exist before is removed after."""
    PATHS = ["/run/containerd", "/run/containerd/s", "/etc/docker/key.json", "/run/docker", "/run/docker/plugins", "/var/lib/docker",
             "/var/lib/containerd", "/run/docker.sock", "/var/run/docker.sock"]

    def __init__(self):
        self.existed = {p: os.path.lexists(p) for p in self.PATHS}
        self.shim_socks = set(os.listdir("/run/containerd/s")) if os.path.isdir("/run/containerd/s") else set()
        # dockerd's cgroupfs driver puts containers under <controller>/docker: remove that parent if we made it.
        self.cgroups = [d for d in glob.glob("/sys/fs/cgroup/*/") if not os.path.isdir(d + "docker")]

    def restore(self):
        for c in self.cgroups:
            parent = c + "docker"
            if os.path.isdir(parent):
                for child in [e.path for e in os.scandir(parent) if e.is_dir()]:
                    try:
                        os.rmdir(child)  # fails, as it should, while a task is still in it
                    except OSError:
                        pass
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
        if os.path.isdir("/run/containerd/s"):
            for n in set(os.listdir("/run/containerd/s")) - self.shim_socks:
                try:
                    os.unlink(os.path.join("/run/containerd/s", n))
                except OSError:
                    pass
        for p in reversed(self.PATHS):
            if not self.existed[p] and os.path.lexists(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    try:
                        os.rmdir(p)  # only if empty: never remove what someone else put there
                    except OSError:
                        pass
                else:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass
