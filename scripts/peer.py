#!/usr/bin/env python3
"""Runs docker-py 7.1.0's integration suite (an unpacked copy of ../shared/peer/) against a berthd
of its own, as ../shared/peer/README.md says it was run beside dockerd, and cleans up after it.
Called by scripts/peer.sh, which installs what is needed first; the suite is unpacked afresh
into the base directory on every run.

The daemon and pytest run in a network namespace of their own: the suite's
networks, bridges, the nftables table, ip_forward and published ports stay in it, and pulls
from Docker Hub fail at once instead of waiting on a route. Everything else the daemon has is
its own too: data-root, exec-root and socket under /tmp/bt-peer-<hex>/, bridge bt<hex>, cgroup
parent /bt<hex> (the names scripts/leakcheck.sh looks for).
"""
import argparse
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_results  # noqa: E402
from peer_cleanup import Sweep, wait_until  # noqa: E402

IMAGES = ["busybox:latest", "alpine:3.10", "alpine:latest", "hello-world:latest"]
# Two exec tests expect Alpine's layout: a `postgres` user and /var/opt.
POSTGRES_PASSWD = "postgres:x:70:70:PostgreSQL user:/var/lib/postgresql:/bin/sh\n"
POSTGRES_GROUP = "postgres:x:70:\n"
PYTEST_DEADLINE = 45 * 60
# The daemon reads /sys/class/net (bridges, bridge ports) and the runtime finds cgroups through
# mountinfo: in a mount namespace of its own, it gets a sysfs of its network namespace with the
# host's cgroup hierarchies moved back on top (`ip netns exec` would leave /sys/fs/cgroup empty).
NETNS_SYSFS = """set -e
mount --rbind /sys/fs/cgroup "$1"
mount -t sysfs sysfs /sys
mount --move "$1" /sys/fs/cgroup
shift
exec "$@"
"""


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def ping(sock_path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock_path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: berth\r\n\r\n")
            return s.recv(64).split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


def make_rootfs(base):
    """mkrootfs.sh's busybox rootfs plus Alpine's `postgres` user and /var/opt."""
    plain, out = os.path.join(base, "busybox.tar"), os.path.join(base, "rootfs.tar")
    subprocess.run(["bash", os.path.join(HERE, "mkrootfs.sh"), plain], check=True, stdout=subprocess.DEVNULL)
    extra = {"etc/passwd": POSTGRES_PASSWD, "etc/group": POSTGRES_GROUP}
    with tarfile.open(plain) as src, tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name in extra:
                data += extra[m.name].encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
            if m.name == "var":
                opt = tarfile.TarInfo("var/opt")
                opt.type, opt.mode, opt.mtime = tarfile.DIRTYPE, 0o755, m.mtime
                dst.addfile(opt)
    os.unlink(plain)
    return out


def import_images(sock_path, rootfs):
    import docker

    api = docker.APIClient(base_url=f"unix://{sock_path}", version="1.41", timeout=120)
    try:
        repo, tag = IMAGES[0].split(":")
        api.import_image(src=rootfs, repository=repo, tag=tag)
        for ref in IMAGES[1:]:
            repo, tag = ref.split(":")
            api.tag(IMAGES[0], repo, tag)
        missing = [r for r in IMAGES if not api.images(name=r)]
        if missing:
            raise RuntimeError(f"images missing after import: {missing}")
    finally:
        api.close()


class Daemon:
    def __init__(self, bin_dir, base, hexid, netns):
        self.base, self.netns = base, netns
        self.sock = os.path.join(base, "berth.sock")
        self.log_path = os.path.join(base, "daemon.log")
        self.bin = os.path.join(bin_dir, "berthd")
        self.args = [
            "--data-root", os.path.join(base, "lib"),
            "--exec-root", os.path.join(base, "run"),
            "-H", f"unix://{self.sock}",
            "--pidfile", os.path.join(base, "berthd.pid"),
            "--config-file", os.path.join(base, "daemon.json"),
            "--bridge", f"bt{hexid}",
            "--bip", "10.199.0.1/16",
            "--cgroup-parent", f"/bt{hexid}",
        ]
        self.proc = None

    def start(self):
        with open(os.path.join(self.base, "daemon.json"), "w") as f:
            f.write("{}\n")
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["RUST_BACKTRACE"] = "1"
        cg = os.path.join(self.base, "cgroup-move")
        os.mkdir(cg)
        # Its own session and process group: the ip/nft helpers of a killed daemon die with it.
        # unshare, nsenter and sh exec in turn, so the pid is berthd's.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "nsenter", f"--net=/run/netns/{self.netns}",
             "sh", "-c", NETNS_SYSFS, "sh", cg, self.bin, *self.args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
        )
        log.close()
        ready = wait_until(60, lambda: self.proc.poll() is not None or ping(self.sock))
        if self.proc.poll() is not None or not ready:
            raise RuntimeError(f"berthd did not answer on {self.sock}; log:\n{self.log_tail()}")

    def mnt_ns(self):
        """The mount namespace `ip netns exec` gave the daemon (its mounts live there)."""
        try:
            return os.readlink(f"/proc/{self.proc.pid}/ns/mnt")
        except OSError:
            return None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        """SIGTERM (containers are stopped within their timeouts), then SIGKILL of the group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
            return
        except subprocess.TimeoutExpired:
            pass
        # Unreaped, so its pid (the group id) cannot have been reused.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        wait_until(5, lambda: not group_alive(self.proc.pid))


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def pytest_command(args, junit):
    targets = [a for a in args.pytest_args if a.startswith("tests/")]
    cmd = [sys.executable, "-m", "pytest"]
    if not targets:
        cmd.append("tests/integration")
    # ../shared/peer/README.md's command. credentials/utils_test.py replaces os.environ and so
    # clears DOCKER_HOST for every later test: that folder stays out.
    cmd += ["--ignore=tests/integration/credentials", "-p", "no:cacheprovider", "-q",
            "--timeout", "60", "-rfE", f"--junitxml={junit}", *args.pytest_args]
    return cmd


def run_pytest(args, suite, daemon, netns, base, junit, log_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    tmp = os.path.join(base, "tmp")
    docker_config = os.path.join(base, "docker-config")
    os.makedirs(tmp, exist_ok=True)
    os.makedirs(docker_config, exist_ok=True)
    env.update({
        "DOCKER_HOST": f"unix://{daemon.sock}",
        "DOCKER_TEST_API_VERSION": "1.41",
        # No credential helper or auth of the host's; the suite's temp files go with the base dir.
        "DOCKER_CONFIG": docker_config,
        "TMPDIR": tmp,
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    # The network namespace only: pytest needs no sysfs of its own.
    cmd = ["nsenter", f"--net=/run/netns/{netns}", *pytest_command(args, junit)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=suite, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(PYTEST_DEADLINE)
        except (subprocess.TimeoutExpired, Interrupted):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        return lines[-1] if lines else "(no output)"
    except OSError:
        return "(no output)"


def run(args, hexid, base, netns, sweep):
    args.out_dir = os.path.abspath(args.out_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    junit = os.path.join(args.out_dir, "junit.xml")
    pytest_log = os.path.join(args.out_dir, "pytest.log")
    for p in (junit, pytest_log):
        if os.path.exists(p):
            os.unlink(p)
    # A fresh copy each run, never edited; it goes with the base directory.
    subprocess.run(["tar", "-xzf", args.tarball, "-C", base], check=True)
    suite = os.path.join(base, "docker-py-7.1.0")
    subprocess.run(["ip", "netns", "add", netns], check=True)
    sweep.netns_created = True
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    sweep.netns_id = netns_inode(netns)
    t0 = time.monotonic()
    rootfs = make_rootfs(base)
    daemon = Daemon(args.bin_dir, base, hexid, netns)
    sweep.daemon = daemon
    daemon.start()
    sweep.mnt_ns = daemon.mnt_ns()
    import_images(daemon.sock, rootfs)
    print(f"peer: berthd pid {daemon.proc.pid} on {daemon.sock}, netns {netns}, images imported"
          f" in {time.monotonic() - t0:.1f}s; running docker-py's suite"
          f" (log: {peer_results.shown(pytest_log)})", flush=True)
    start = time.monotonic()
    rc = run_pytest(args, suite, daemon, netns, base, junit, pytest_log)
    secs = int(time.monotonic() - start)
    print(f"peer: pytest exit {rc} after {secs}s: {last_line(pytest_log)}", flush=True)
    return junit, secs


def finish(sweep, out_dir, status):
    """Stops the daemon, keeps its log, removes everything; True when nothing is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    t0 = time.monotonic()
    if sweep.daemon is not None:
        try:
            sweep.daemon.stop()
        except OSError as e:
            print(f"peer: stopping the daemon: {e}")
        try:
            shutil.copyfile(sweep.daemon.log_path, os.path.join(os.path.abspath(out_dir), "daemon.log"))
        except OSError as e:
            print(f"peer: daemon log not kept: {e}")
        if status != 0:
            print("peer: daemon log tail:\n" + sweep.daemon.log_tail(), flush=True)
    clean = sweep.run()
    what = "everything removed" if clean else "clean-up incomplete"
    print(f"peer: daemon stopped, {what} in {time.monotonic() - t0:.1f}s", flush=True)
    return clean


def netns_inode(name):
    return f"net:[{os.stat(os.path.join('/run/netns', name)).st_ino}]"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", required=True, help="where berthd, berth-shim, berth-runtime are")
    p.add_argument("--tarball", required=True, help="docker-py-7.1.0-tests.tar.gz, unpacked afresh each run")
    p.add_argument("--out-dir", required=True, help="JUnit file and logs go here")
    p.add_argument("--expected", default=peer_results.DEFAULT_EXPECTED)
    p.add_argument("--update-expected", action="store_true")
    p.add_argument("pytest_args", nargs="*",
                   help="extra pytest arguments; test paths (tests/...) replace tests/integration")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("peer: must run as root (network namespace, cgroups, mounts)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    hexid = secrets.token_hex(4)
    base = f"/tmp/bt-peer-{hexid}"
    netns = f"bt-peer-{hexid}"
    sweep = Sweep(base=base, netns=netns, cgroup_parent=f"bt{hexid}")
    status, junit, secs = 1, None, None
    try:
        os.mkdir(base, 0o700)
        junit, secs = run(args, hexid, base, netns, sweep)
        status = 0
    except (Interrupted, RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"peer: run failed: {e}", flush=True)
    except Exception as e:  # docker-py's errors while importing images, among others
        print(f"peer: run failed: {type(e).__name__}: {e}", flush=True)
    finally:
        clean = finish(sweep, args.out_dir, status)
    if junit is None or not os.path.exists(junit):
        print("peer: no JUnit file: the suite did not run")
        return 1
    if args.update_expected:
        peer_results.update_expected(argparse.Namespace(junit=junit, expected=args.expected))
    cmp = peer_results.compare(argparse.Namespace(junit=junit, expected=args.expected, seconds=secs))
    if not clean:
        print("peer: cleanup left something behind (above)")
        return 1
    return cmp if not args.update_expected else 0


if __name__ == "__main__":
    sys.exit(main())
