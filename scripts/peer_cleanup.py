"""scripts/peer.py's clean-up: leaves the host as it was, whatever the daemon, its monitors and
the suite's containers were doing when the run ended.

A process is the run's when it is in the run's network namespace or in the daemon's mount
namespace (the daemon, its monitors and helpers, host-network containers), when its cgroup is
under the run's cgroup parent (every container and exec), or when its command line names the base
directory (monitors: `berth-shim --config <exec-root>/…`). Each is signalled through a pidfd
opened before it is checked, so a recycled pid is never hit. Frozen containers (the suite pauses
some) are thawed first: a frozen task does not act on SIGKILL.
"""
import os
import shutil
import signal
import subprocess
import time

CGROUP_ROOT = "/sys/fs/cgroup"


class Sweep:
    def __init__(self, base, netns, cgroup_parent):
        self.base = base
        self.netns = netns
        self.cgroup_parent = cgroup_parent
        self.daemon = None
        self.netns_created = False
        self.netns_id = None  # "net:[inode]"
        self.mnt_ns = None  # "mnt:[inode]" of the daemon

    def run(self):
        """Best effort, every step; returns True when nothing is left."""
        if self.daemon is not None:
            try:
                self.daemon.stop()
            except OSError as e:
                print(f"peer cleanup: stopping the daemon: {e}")
        self.thaw()
        for _ in range(5):
            killed = self.kill_ours()
            if not killed or wait_until(5, lambda: not self.ours_alive()):
                break
        self.remove_cgroups()
        unmount_under(self.base)
        if self.netns_created:
            subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
        if not mounts_under(self.base) and os.path.isdir(self.base):
            shutil.rmtree(self.base, ignore_errors=True)
        return self.report()

    # --- processes

    def is_ours(self, pid):
        d = f"/proc/{pid}"
        try:
            with open(f"{d}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    return False
            with open(f"{d}/cmdline", "rb") as f:
                if self.base.encode() + b"/" in f.read():
                    return True
            ns = [safe_readlink(f"{d}/ns/net"), safe_readlink(f"{d}/ns/mnt")]
            if (self.netns_id and ns[0] == self.netns_id) or (self.mnt_ns and ns[1] == self.mnt_ns):
                return True
            with open(f"{d}/cgroup") as f:
                return any(self.in_parent(line.split(":", 2)[-1].strip()) for line in f)
        except (OSError, IndexError):
            return False

    def in_parent(self, path):
        p = "/" + self.cgroup_parent
        return path == p or path.startswith(p + "/")

    def candidates(self):
        me = os.getpid()
        for e in os.listdir("/proc"):
            if e.isdigit() and int(e) != me:
                yield int(e)

    def ours_alive(self):
        return any(self.is_ours(p) for p in self.candidates())

    def kill_ours(self):
        killed = 0
        for pid in self.candidates():
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                # Checked after the pidfd is held: the pid cannot be recycled under us now.
                if self.is_ours(pid):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    killed += 1
            except OSError:
                pass
            finally:
                os.close(fd)
        return killed

    # --- cgroups

    def cgroup_tops(self):
        tops = [os.path.join(CGROUP_ROOT, self.cgroup_parent)]
        for h in sorted(os.listdir(CGROUP_ROOT)):
            tops.append(os.path.join(CGROUP_ROOT, h, self.cgroup_parent))
        return [t for t in tops if os.path.isdir(t)]

    def cgroup_dirs(self):
        """Every directory under the parent in every hierarchy, deepest first."""
        found = []
        for top in self.cgroup_tops():
            for root, dirs, _ in os.walk(top):
                found.extend(os.path.join(root, d) for d in dirs)
            found.append(top)
        return sorted(set(found), key=lambda p: -p.count("/"))

    def thaw(self):
        for d in self.cgroup_dirs():
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                try:
                    with open(os.path.join(d, name), "w") as f:
                        f.write(value)
                except OSError:
                    pass

    def remove_cgroups(self):
        def gone():
            for d in self.cgroup_dirs():
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            return not self.cgroup_tops()

        wait_until(10, gone, step=0.1)

    # --- what is left

    def report(self):
        left = []
        left += [f"process {p}" for p in self.candidates() if self.is_ours(p)]
        left += [f"cgroup {d}" for d in self.cgroup_dirs()]
        left += [f"mount {m}" for m in mounts_under(self.base)]
        if os.path.exists(os.path.join("/run/netns", self.netns)):
            left.append(f"netns {self.netns}")
        if os.path.exists(self.base):
            left.append(f"dir {self.base}")
        for item in left:
            print(f"peer cleanup: left behind: {item}")
        return not left


def safe_readlink(p):
    try:
        return os.readlink(p)
    except OSError:
        return None


def wait_until(deadline_s, cond, step=0.05):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def unescape(s):
    out, i = bytearray(), 0
    b = s.encode()
    while i < len(b):
        if b[i] == 0x5C and i + 3 < len(b) and all(0x30 <= c <= 0x37 for c in b[i + 1:i + 4]):
            out.append(int(b[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return out.decode(errors="replace")


def mounts_under(base):
    try:
        with open("/proc/self/mountinfo") as f:
            points = [unescape(l.split(" ")[4]) for l in f]
    except OSError:
        return []
    return [p for p in points if p == base or p.startswith(base + "/")]


def unmount_under(base):
    """The daemon's mounts are in its own mount namespace and go with it; this is for any that
    reached the host's (none should)."""
    for _ in range(5):
        points = sorted(mounts_under(base), key=lambda p: -p.count("/"))
        if not points:
            return
        for p in points:
            subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)
