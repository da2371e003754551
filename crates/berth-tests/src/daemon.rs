//! One berthd per test: private directories, socket, pid file, config file and bridge.

use crate::bins::workspace_bin;
use crate::http::{unix_http_request, HttpResponse};
use nix::sys::signal::Signal;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How to start a test daemon. Build with [`DaemonOpts::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct DaemonOpts {
    /// Shown in the base directory's NAME file and in failure messages.
    pub name: String,
    /// Pass `--live-restore` on the command line.
    pub live_restore: bool,
    /// Text of the daemon.json given with `--config-file`; `{}` when None. Kept verbatim so that
    /// tests can hand the daemon invalid JSON.
    pub config_json: Option<String>,
    pub storage_driver: Option<String>,
    /// Pass `--debug` (default: `BERTH_TEST_DEBUG` set to anything but 0).
    pub debug: bool,
    /// Give the daemon its own bridge name and subnet when it supports `--bridge`/`--bip`.
    pub own_bridge: bool,
    pub extra_args: Vec<String>,
    /// Run this binary instead of the workspace's berthd (harness self-tests, comparing builds).
    pub daemon_binary: Option<PathBuf>,
    /// Extra environment of the daemon process (e.g. `BERTH_CRASH_AT`); applies to every
    /// (re)start until changed.
    pub env: Vec<(String, String)>,
    /// cgroup directories (one per hierarchy) the daemon process is moved into right after each
    /// spawn, as systemd would start it in its unit's cgroup. The test owns and removes them.
    pub cgroups: Vec<PathBuf>,
    /// Serve the API on a socket the harness binds once and passes to every (re)start as systemd's
    /// socket activation does (fd 3, `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES=berth.socket`),
    /// with this host (`fd://`, or one naming it): the socket stays open while the daemon is down.
    pub socket_activation: Option<String>,
    /// Give no `-H`: the hosts are daemon.json's, whose text may name the harness's socket as
    /// `{socket}` (replaced at spawn).
    pub hosts_in_config: bool,
}

impl DaemonOpts {
    pub fn new(name: &str) -> Self {
        DaemonOpts {
            name: name.to_string(),
            live_restore: false,
            config_json: None,
            storage_driver: None,
            debug: std::env::var("BERTH_TEST_DEBUG").is_ok_and(|v| v != "0" && !v.is_empty()),
            own_bridge: true,
            extra_args: Vec::new(),
            daemon_binary: None,
            env: Vec::new(),
            cgroups: Vec::new(),
            socket_activation: None,
            hosts_in_config: false,
        }
    }
    pub fn socket_activation(mut self, host: &str) -> Self {
        self.socket_activation = Some(host.to_string());
        self
    }
    pub fn live_restore(mut self, on: bool) -> Self {
        self.live_restore = on;
        self
    }
    pub fn config(mut self, json: impl Into<String>) -> Self {
        self.config_json = Some(json.into());
        self
    }
    pub fn storage_driver(mut self, d: &str) -> Self {
        self.storage_driver = Some(d.to_string());
        self
    }
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }
    /// The hosts are daemon.json's (`"hosts": ["unix://{socket}", ...]`): no `-H` flag.
    pub fn hosts_in_config(mut self) -> Self {
        self.hosts_in_config = true;
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.extra_args.push(a.to_string());
        self
    }
    pub fn cgroup(mut self, dir: &Path) -> Self {
        self.cgroups.push(dir.to_path_buf());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
}

/// A running (or deliberately stopped) berthd with everything under one private base directory.
/// Dropping it kills the daemon, its monitors and containers, unmounts, and removes the directory.
pub struct TestDaemon {
    pub opts: DaemonOpts,
    pub base: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub config_file: PathBuf,
    pub log_file: PathBuf,
    pub(crate) docker_config: PathBuf,
    pub bridge: Option<(String, String)>,
    /// The daemon's `--cgroup-parent` (absolute), when this build has the flag.
    pub cgroup_parent: Option<String>,
    child: Option<Child>,
    exit_status: Option<ExitStatus>,
    /// How long the last start took until `/_ping` answered.
    pub last_ready: Option<Duration>,
    starts: u32,
    pub(crate) busybox_id: Option<String>,
    /// The listening socket passed to the daemon with `socket_activation`.
    activation: Option<std::os::unix::net::UnixListener>,
}

fn base_root() -> PathBuf {
    std::env::var_os("BERTH_TEST_TMP").map(PathBuf::from).unwrap_or_else(|| "/tmp".into())
}

/// `berthd --help`, read once per process, to learn which optional flags this build has.
fn daemon_help(bin: &Path) -> &'static str {
    static HELP: OnceLock<String> = OnceLock::new();
    HELP.get_or_init(|| {
        Command::new(bin)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default()
    })
}

fn daemon_bin(opts: &DaemonOpts) -> PathBuf {
    opts.daemon_binary.clone().unwrap_or_else(|| workspace_bin("berthd"))
}

impl TestDaemon {
    /// Starts a daemon and waits (10 s at most) until `/_ping` answers; panics with its log if not.
    pub fn start(opts: DaemonOpts) -> TestDaemon {
        let mut d = TestDaemon::spawn(opts);
        if let Err(e) = d.wait_ready(Duration::from_secs(10)) {
            panic!("daemon {} did not come up: {e}\n--- daemon log ---\n{}", d.opts.name, d.log_tail(60));
        }
        d
    }

    /// Prepares the directories and spawns the daemon without waiting for it (for tests that expect
    /// it to refuse to start).
    pub fn spawn(opts: DaemonOpts) -> TestDaemon {
        // Short paths: monitor sockets live at <exec-root>/shims/<64 hex>/shim.sock and must stay
        // under the 108-byte limit of sun_path.
        let root = base_root();
        let base = loop {
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let b = root.join(format!("bt-{}-{n}", std::process::id()));
            match std::fs::create_dir(&b) {
                Ok(()) => break b,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("create {}: {e}", b.display()),
            }
        };
        std::fs::write(base.join("NAME"), format!("{}\n", opts.name)).expect("write NAME");
        let docker_config = base.join("docker-config");
        std::fs::create_dir_all(&docker_config).expect("create docker config dir");
        let help = daemon_help(&daemon_bin(&opts));
        // Concurrent tests run in separate processes: (pid, base) is unique among them.
        let h = {
            use std::hash::{Hash, Hasher};
            let mut hs = std::collections::hash_map::DefaultHasher::new();
            (std::process::id(), &base).hash(&mut hs);
            hs.finish()
        };
        let bridge = (opts.own_bridge && help.contains("--bip")).then(|| {
            let name = format!("bt{:08x}", h as u32);
            let cidr = format!("10.{}.{}.1/24", 100 + (h >> 32) % 100, (h >> 40) % 256);
            (name, cidr)
        });
        // A cgroup parent of its own: no test can remove a parent another test's daemon is using.
        let cgroup_parent = help.contains("--cgroup-parent").then(|| format!("/bt{:08x}", h as u32));
        let mut d = TestDaemon {
            data_root: base.join("lib"),
            exec_root: base.join("run"),
            socket: base.join("berth.sock"),
            pidfile: base.join("berthd.pid"),
            config_file: base.join("daemon.json"),
            log_file: base.join("daemon.log"),
            docker_config,
            bridge,
            cgroup_parent,
            base,
            opts,
            child: None,
            exit_status: None,
            last_ready: None,
            starts: 0,
            busybox_id: None,
            activation: None,
        };
        if d.opts.socket_activation.is_some() {
            // Where berth.socket puts it: in the exec-root, which systemd creates (DirectoryMode).
            std::fs::create_dir_all(&d.exec_root).expect("create exec-root");
            std::fs::set_permissions(&d.exec_root, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
            d.socket = d.exec_root.join("berth.sock");
            let l = std::os::unix::net::UnixListener::bind(&d.socket)
                .unwrap_or_else(|e| panic!("bind {}: {e}", d.socket.display()));
            // A mode berthd never gives its own sockets (it makes them 0660): tests check that a
            // passed socket keeps the one its unit set.
            std::fs::set_permissions(&d.socket, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            d.activation = Some(l);
        }
        let mut cfg = d.opts.config_json.clone().unwrap_or_else(|| "{}".to_string());
        if d.opts.hosts_in_config {
            cfg = cfg.replace("{socket}", &d.socket.display().to_string());
        }
        d.write_config(&cfg);
        d.spawn_process();
        d
    }

    /// Arguments the daemon is started with (the same on every restart).
    pub fn daemon_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--data-root".into(),
            self.data_root.display().to_string(),
            "--exec-root".into(),
            self.exec_root.display().to_string(),
            "--pidfile".into(),
            self.pidfile.display().to_string(),
            "--config-file".into(),
            self.config_file.display().to_string(),
        ];
        if !self.opts.hosts_in_config {
            a.push("-H".into());
            a.push(match &self.opts.socket_activation {
                Some(host) => host.clone(),
                None => format!("unix://{}", self.socket.display()),
            });
        }
        if self.opts.live_restore {
            a.push("--live-restore".into());
        }
        if let Some(s) = &self.opts.storage_driver {
            a.extend(["--storage-driver".into(), s.clone()]);
        }
        if self.opts.debug {
            a.push("--debug".into());
        }
        if let Some((name, cidr)) = &self.bridge {
            if daemon_help(&daemon_bin(&self.opts)).contains("--bridge") {
                a.extend(["--bridge".into(), name.clone()]);
            }
            a.extend(["--bip".into(), cidr.clone()]);
        }
        if let Some(p) = &self.cgroup_parent {
            if !self.opts.extra_args.iter().any(|x| x.starts_with("--cgroup-parent")) {
                a.extend(["--cgroup-parent".into(), p.clone()]);
            }
        }
        a.extend(self.opts.extra_args.iter().cloned());
        a
    }

    /// The cgroup parent this daemon's containers get by default, without slashes around it.
    pub fn cgroup_parent_name(&self) -> &str {
        self.cgroup_parent.as_deref().unwrap_or("/berth").trim_matches('/')
    }

    fn daemon_command(&self, log: &Path, banner: &str) -> Command {
        let mut f = OpenOptions::new().create(true).append(true).open(log).expect("open daemon log");
        let args = self.daemon_args();
        let _ = writeln!(f, "==== {banner} at {:.3}: berthd {} ====", crate::unix_now(), args.join(" "));
        let mut cmd = match &self.activation {
            // LISTEN_PID must be the daemon's own pid, known only in the child: a shell exports its
            // own ($$) and execs the daemon, which keeps the pid.
            Some(l) => {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", "export LISTEN_PID=$$; exec \"$0\" \"$@\""]).arg(daemon_bin(&self.opts));
                berth_sys::activation::pass_fd_as(&mut c, std::os::fd::AsRawFd::as_raw_fd(l), 3);
                c.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "berth.socket");
                c
            }
            None => Command::new(daemon_bin(&self.opts)),
        };
        // Its own process group, so that the drop guard can end the helpers (`ip`, `nft`) a killed
        // daemon leaves running: one of them finishing after the guard deleted the bridge would
        // leave the bridge behind. Monitors leave the group (setsid) and are found otherwise.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("clone log fd"))
            .stderr(f)
            .env("RUST_BACKTRACE", "1")
            .env_remove("DOCKER_HOST")
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn spawn_process(&mut self) {
        self.starts += 1;
        let banner = format!("start #{}", self.starts);
        let mut cmd = self.daemon_command(&self.log_file.clone(), &banner);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn berthd: {e}"));
        // Moved before it can launch a monitor: it answers no API request yet.
        for dir in &self.opts.cgroups {
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string())
                .unwrap_or_else(|e| panic!("moving berthd into {}: {e}", dir.display()));
        }
        self.child = Some(child);
        self.exit_status = None;
    }

    /// Spawns a second daemon with exactly the same arguments (same data-root, socket, pid file);
    /// its output goes to `<base>/second.log`. The caller owns (and must reap) the child.
    pub fn spawn_duplicate(&self) -> (Child, PathBuf) {
        let log = self.base.join("second.log");
        let child = self.daemon_command(&log, "duplicate").spawn().expect("spawn second berthd");
        (child, log)
    }

    /// Waits until `/_ping` answers 200; returns how long that took since the daemon was spawned
    /// (measured from now if it is already up). Fails early when the daemon exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let t0 = Instant::now();
        loop {
            if self.ping() {
                let took = t0.elapsed();
                self.last_ready = Some(took);
                return Ok(took);
            }
            if let Some(st) = self.try_exit() {
                return Err(format!("berthd exited with {st} before answering /_ping"));
            }
            if t0.elapsed() > timeout {
                return Err(format!("/_ping did not answer within {timeout:?} on {}", self.socket.display()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True when `GET /_ping` answers 200 within a second.
    pub fn ping(&self) -> bool {
        unix_http_request(&self.socket, "GET", "/_ping", None, Duration::from_secs(1)).is_ok_and(|r| r.status == 200)
    }

    /// Pid of the current daemon process (panics when none was spawned).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("no daemon process")
    }

    /// Sends `sig` to the daemon process by its pid.
    pub fn kill(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
    }
    pub fn kill9(&self) {
        self.kill(Signal::SIGKILL)
    }
    pub fn term(&self) {
        self.kill(Signal::SIGTERM)
    }
    pub fn hup(&self) {
        self.kill(Signal::SIGHUP)
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit_status.is_none() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.exit_status = Some(st);
                }
            }
        }
        self.exit_status
    }

    /// Waits for the daemon process to exit; None when it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_exit() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the daemon again (the previous process must be gone) without waiting for its API:
    /// for starts that are expected to die.
    pub fn spawn_unready(&mut self) {
        assert!(self.child.is_none() || self.try_exit().is_some(), "previous berthd still running");
        self.spawn_process();
    }

    /// True while the daemon process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_exit().is_none()
    }

    /// Starts the daemon again with the same directories and options once the previous process is
    /// gone; returns when `/_ping` answers, with how long that took (also kept in `last_ready`).
    pub fn restart(&mut self) -> Duration {
        if self.child.is_some() && self.wait_exit(Duration::from_secs(15)).is_none() {
            panic!("restart: previous berthd (pid {}) still running after 15 s", self.pid());
        }
        self.spawn_process();
        match self.wait_ready(Duration::from_secs(10)) {
            Ok(took) => {
                eprintln!("[{}] berthd restart #{}: API answered after {took:?}", self.opts.name, self.starts);
                took
            }
            Err(e) => panic!("daemon restart failed: {e}\n--- daemon log ---\n{}", self.log_tail(60)),
        }
    }

    /// Replaces the daemon.json the daemon reads (atomically, as an editor would not, so a SIGHUP
    /// never sees half a file).
    pub fn write_config(&self, text: &str) {
        let tmp = self.config_file.with_extension("json.tmp");
        std::fs::write(&tmp, text).expect("write daemon.json");
        std::fs::rename(&tmp, &self.config_file).expect("rename daemon.json");
    }

    /// The whole daemon log (all starts).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log_file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `n` lines of the daemon log.
    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Raw request over the API socket (30 s timeout); panics on transport errors.
    pub fn api(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> HttpResponse {
        unix_http_request(&self.socket, method, path, body, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n--- daemon log ---\n{}", self.log_tail(30)))
    }
    pub fn api_get(&self, path: &str) -> HttpResponse {
        self.api("GET", path, None)
    }
    /// POST with a JSON content type; `body` is sent verbatim (it may be malformed on purpose).
    pub fn api_post(&self, path: &str, body: &str) -> HttpResponse {
        self.api("POST", path, Some(("application/json", body.as_bytes())))
    }

    pub(crate) fn take_child(&mut self) -> Option<Child> {
        self.child.take()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- test {} failed; daemon log tail ({}) ---\n{}",
                self.opts.name,
                self.log_file.display(),
                self.log_tail(40)
            );
        }
        crate::cleanup::cleanup(self);
    }
}
