//! Test fixtures: a busybox bundle for runc, a shim started the way the daemon starts it, a
//! protocol client, and guards that clean up by pid and `runc delete --force`.
#![allow(dead_code)]

use berth_proto::{read_msg, write_msg, LogConfig, Request, Response, RuntimeSpec, ShimConfig, StartReport};
use berth_sys::ProcessIdentity;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const RUNC: &str = "/usr/sbin/runc";
static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Options {
    pub args: Vec<String>,
    pub terminal: bool,
    pub max_size: u64,
    pub max_file: u32,
    /// linux.resources.memory.limit in bytes.
    pub memory_limit: Option<u64>,
}

impl Options {
    pub fn sh(script: &str) -> Self {
        Options {
            args: vec!["sh".into(), "-c".into(), script.into()],
            terminal: false,
            max_size: 0,
            max_file: 1,
            memory_limit: None,
        }
    }
}

/// One container's world in a unique temp dir. Drop kills what is left (by pid, identity-checked)
/// and removes the container from runc and the directory.
pub struct Fixture {
    pub dir: PathBuf,
    pub id: String,
    pub cfg: ShimConfig,
    pub config_path: PathBuf,
    pub report: Option<StartReport>,
    pub shim: Option<ProcessIdentity>,
    pub init: Option<ProcessIdentity>,
}

impl Fixture {
    pub fn new(tag: &str, opts: Options) -> Self {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("bst-{tag}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("berth-shim-test-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "seq", "sleep", "yes", "head", "cat", "tty", "stty", "true", "echo"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let st = Command::new(RUNC).arg("spec").current_dir(&bundle).status().unwrap();
        assert!(st.success());
        let spec_path = bundle.join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
        spec["process"]["args"] = serde_json::json!(opts.args);
        spec["process"]["terminal"] = serde_json::json!(opts.terminal);
        spec["root"]["path"] = serde_json::json!(rootfs);
        spec["root"]["readonly"] = serde_json::json!(false);
        spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/berth-shim-test/{id}"));
        if let Some(limit) = opts.memory_limit {
            spec["linux"]["resources"]["memory"] = serde_json::json!({ "limit": limit });
        }
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();

        let state_dir = dir.join("state");
        let container_dir = dir.join("ctr");
        std::fs::create_dir_all(&state_dir).unwrap();
        let cfg = ShimConfig {
            id: id.clone(),
            bundle,
            state_dir: state_dir.clone(),
            container_dir: container_dir.clone(),
            runtime: RuntimeSpec {
                name: "runc".into(),
                path: RUNC.into(),
                args: vec!["--root".into(), dir.join("runc-root").to_string_lossy().into_owned()],
            },
            log: LogConfig {
                path: container_dir.join(format!("{id}-json.log")),
                max_size: opts.max_size,
                max_file: opts.max_file,
            },
            terminal: opts.terminal,
            open_stdin: false,
            stdin_once: false,
            start_gate: None,
            restart: None,
            daemon_lock: None,
            health: None,
            console_size: None,
            dns: None,
            monitor_cgroup: None,
        };
        let config_path = state_dir.join(berth_proto::paths::CONFIG);
        berth_proto::fsutil::write_json_atomic(&config_path, &cfg).unwrap();
        Fixture { dir, id, cfg, config_path, report: None, shim: None, init: None }
    }

    /// Starts the shim as the daemon does; returns the report and the launcher's exit status.
    pub fn start(&mut self) -> (StartReport, i32) {
        // BERTH_SHIM_BIN runs the suite against another build (e.g. release, to measure RSS).
        let bin = std::env::var_os("BERTH_SHIM_BIN")
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_berth-shim").into());
        let out = Command::new(bin)
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "exactly one line on stdout: {text:?}");
        let report: StartReport = serde_json::from_str(text.trim()).unwrap();
        if let StartReport::Started { shim_pid, container_pid, container_start_time, .. } = &report {
            self.shim = ProcessIdentity::of(*shim_pid);
            self.init = Some(ProcessIdentity { pid: *container_pid, start_time: *container_start_time });
        }
        self.report = Some(report.clone());
        (report, out.status.code().unwrap_or(-1))
    }

    pub fn started(&mut self) -> (i32, i32) {
        match self.start() {
            (StartReport::Started { shim_pid, container_pid, .. }, 0) => (shim_pid, container_pid),
            other => panic!("container did not start: {other:?}\nshim.log: {}", self.shim_log()),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.cfg.state_dir.join(berth_proto::paths::SOCKET)
    }

    pub fn log_path(&self) -> &Path {
        &self.cfg.log.path
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.cfg.state_dir.join("shim.log")).unwrap_or_default()
    }

    pub fn exit_record(&self) -> Option<berth_proto::ExitRecord> {
        berth_proto::fsutil::read_json(&self.cfg.container_dir.join(berth_proto::paths::EXIT_RECORD)).unwrap()
    }

    /// Waits for the shim to finish (exit record written, process gone).
    pub fn wait_shim_exit(&self, timeout: Duration) -> berth_proto::ExitRecord {
        let shim = self.shim.expect("shim started");
        let deadline = Instant::now() + timeout;
        while shim.is_alive() {
            assert!(Instant::now() < deadline, "shim still running after {timeout:?}\n{}", self.shim_log());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exit_record().unwrap_or_else(|| panic!("no exit record; shim.log:\n{}", self.shim_log()))
    }

    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        entries(self.log_path())
    }

    pub fn runc(&self, args: &[&str]) -> std::process::Output {
        Command::new(RUNC).args(&self.cfg.runtime.args).args(args).output().unwrap()
    }
}

pub fn entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

pub fn vm_rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for p in [self.shim, self.init].into_iter().flatten() {
            let _ = berth_sys::kill_verified(&p, 9);
        }
        let _ = self.runc(&["delete", "--force", &self.id]);
        // The shared parent goes with the last test using it (rmdir fails while it is in use).
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                let _ = std::fs::remove_dir(h.path().join("berth-shim-test"));
            }
        }
        if std::env::var_os("BERTH_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A control-socket client speaking the wire framing.
pub struct Client {
    pub r: BufReader<UnixStream>,
    pub w: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Self {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client { r: BufReader::new(s.try_clone().unwrap()), w: s }
    }

    pub fn hello(path: &Path) -> Self {
        let mut c = Self::connect(path);
        match c.call(&Request::Hello { min: 1, max: 1, client: "test".into() }) {
            Response::Hello { version: 1, .. } => c,
            other => panic!("hello: {other:?}"),
        }
    }

    pub fn send(&mut self, req: &Request) {
        write_msg(&mut self.w, req).unwrap();
    }

    pub fn recv(&mut self) -> Response {
        read_msg(&mut self.r).unwrap()
    }

    pub fn call(&mut self, req: &Request) -> Response {
        self.send(req);
        self.recv()
    }
}
