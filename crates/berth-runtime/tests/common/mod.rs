//! Real bundles and a guard that never leaks a container, a cgroup or a state directory.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct TestContainer {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub id: String,
    pub cgroup: String,
    pub pid_file: PathBuf,
    pub stdout_path: PathBuf,
}

impl TestContainer {
    /// A bundle with a busybox rootfs running `sh -c script`.
    pub fn new(script: &str) -> Self {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{}", std::process::id(), n);
        let dir = tempfile::Builder::new().prefix("berth-rt-").tempdir().unwrap();
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(bundle.join("rootfs").join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for tool in ["sh", "echo", "sleep", "cat", "ls", "true", "false"] {
            std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
        }
        let id = format!("brt-{tag}");
        // One top-level cgroup per container: a shared parent would race with parallel tests' cleanup.
        let cgroup = format!("/berth-rt-test-{tag}");
        let c = TestContainer {
            pid_file: dir.path().join("init.pid"),
            stdout_path: dir.path().join("stdout"),
            dir,
            root,
            bundle,
            id,
            cgroup,
        };
        c.write_config(&c.base_config(script));
        c
    }

    pub fn base_config(&self, script: &str) -> Value {
        let caps =
            json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"]);
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh", "-c", script],
                "env": ["PATH=/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "berth-test",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "linux": {
                "cgroupsPath": self.cgroup,
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        })
    }

    pub fn write_config(&self, v: &Value) {
        std::fs::write(self.bundle.join("config.json"), serde_json::to_vec_pretty(v).unwrap()).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs a runtime command whose stdout does not outlive it.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `create`, with the container's stdout and stderr going to `stdout_path` (a file, since the
    /// init keeps it open after the runtime exits).
    pub fn create(&self) -> std::process::ExitStatus {
        let out = File::create(&self.stdout_path).unwrap();
        let err = out.try_clone().unwrap();
        self.cmd()
            .arg("--log")
            .arg(self.log_path())
            .arg("--log-format=json")
            .arg("create")
            .arg("--bundle")
            .arg(&self.bundle)
            .arg("--pid-file")
            .arg(&self.pid_file)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap()
    }

    /// With --log, the runtime's messages go there and not to the container's stdio.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("runtime.log")
    }

    pub fn state(&self) -> Value {
        let out = self.run_ok(&["state", &self.id]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn wait_status(&self, want: &str, timeout: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let st = self.state();
            if st["status"] == want {
                return st;
            }
            assert!(t0.elapsed() < timeout, "container never reached {want}: {st}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_output(&self, needle: &str, timeout: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = std::fs::read_to_string(&self.stdout_path).unwrap_or_default();
            if s.contains(needle) {
                return s;
            }
            assert!(t0.elapsed() < timeout, "output never contained {needle:?}: {s:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn init_pid(&self) -> Option<i32> {
        std::fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }
}

pub fn cgroup_v1_file(ctrl: &str, cgroup: &str, file: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(ctrl).join(cgroup.trim_start_matches('/')).join(file)
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        // Kill by pid first so delete never waits on a live init, whatever state the test left.
        if let Some(pid) = self.init_pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            for _ in 0..100 {
                if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
                    break;
                }
                let _ = nix::sys::wait::waitpid(
                    nix::unistd::Pid::from_raw(pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.run(&["delete", "--force", &self.id]);
        for ctrl in [
            "memory",
            "pids",
            "cpu,cpuacct",
            "cpu",
            "cpuacct",
            "freezer",
            "devices",
            "blkio",
            "cpuset",
            "net_cls,net_prio",
            "perf_event",
            "hugetlb",
            "rdma",
            "misc",
            "systemd",
            "unified",
        ] {
            let dir = Path::new("/sys/fs/cgroup").join(ctrl).join(self.cgroup.trim_start_matches('/'));
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Makes the test process the subreaper of the inits it creates, as the monitor is, so it can
/// reap them (and read their exit status) by pid.
pub fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).unwrap());
}

/// Waits for the orphaned init (reparented to us) and returns its wait status.
pub fn reap(pid: i32, timeout: Duration) -> nix::sys::wait::WaitStatus {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let t0 = Instant::now();
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(ws) => return ws,
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
        assert!(t0.elapsed() < timeout, "init {pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}
