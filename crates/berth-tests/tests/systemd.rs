//! berthd as a systemd service, without systemd as PID 1: the test plays the service manager.
//! It binds the notification socket (NOTIFY_SOCKET) and reads what the daemon tells it, and it
//! holds the API socket and passes it as socket activation does (fd 3, LISTEN_FDS, LISTEN_PID),
//! across restarts of the daemon, as berth.socket does.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The manager's end of NOTIFY_SOCKET, in a directory of its own that is removed on drop.
struct Manager {
    dir: PathBuf,
    sock: UnixDatagram,
    /// Every datagram received so far, in order.
    seen: Vec<String>,
}

impl Manager {
    fn new(tag: &str) -> Manager {
        let dir = PathBuf::from(format!("/tmp/bt-notify-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create notify dir");
        let sock = UnixDatagram::bind(dir.join("notify.sock")).expect("bind notify socket");
        Manager { dir, sock, seen: Vec::new() }
    }

    fn path(&self) -> String {
        self.dir.join("notify.sock").display().to_string()
    }

    /// Waits for the next datagram that has `line` as one of its lines; returns it. Panics,
    /// showing what did arrive, when none does within `timeout`.
    fn expect(&mut self, line: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no datagram with {line:?} within {timeout:?}; received: {:#?}", self.seen);
            self.sock.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 4096];
            let Ok(n) = self.sock.recv(&mut buf) else { continue };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(msg.clone());
            if msg.lines().any(|l| l == line) {
                return msg;
            }
        }
    }

    /// Datagrams that arrived and were not read yet.
    fn drain(&mut self) {
        self.sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.sock.set_nonblocking(false).unwrap();
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn status_of(msg: &str) -> &str {
    msg.lines().find_map(|l| l.strip_prefix("STATUS=")).unwrap_or_else(|| panic!("no STATUS= in {msg:?}"))
}

/// The variables a service manager hands berthd, which nothing it starts may inherit.
const MANAGER_VARS: [&str; 4] = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_else(|e| panic!("environ of {pid}: {e}"));
    raw.split(|b| *b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// Runs a container and checks that neither its process nor its monitor got any of the manager's
/// variables (while the daemon itself was started with them).
fn assert_children_clean(d: &mut TestDaemon, name: &str) {
    d.busybox_image();
    d.run_detached(&["--name", name, "busybox", "sleep", "1000"]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]);
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.exec_root.join("shims").join(&id).join("monitor.json")).unwrap(),
    )
    .unwrap();
    let monitor = rec["shim_pid"].as_i64().expect("shim_pid") as i32;
    let container = d.container_pid(name);
    let daemon_env = environ(d.pid());
    assert!(
        daemon_env.iter().any(|v| MANAGER_VARS.iter().any(|m| v.starts_with(&format!("{m}=")))),
        "the daemon should have been started with the manager's variables: {daemon_env:?}"
    );
    for (what, pid) in [("monitor", monitor), ("container", container)] {
        let env = environ(pid);
        let leaked: Vec<&String> =
            env.iter().filter(|v| MANAGER_VARS.iter().any(|m| v.starts_with(&format!("{m}=")))).collect();
        assert!(leaked.is_empty(), "the {what} (pid {pid}) inherited {leaked:?}");
    }
}

#[test]
fn notify_ready_reload_status_stopping() {
    let mut m = Manager::new("lifecycle");
    let opts = DaemonOpts::new("systemd-notify").env("NOTIFY_SOCKET", &m.path());
    let mut d = TestDaemon::spawn(opts);
    let ready = m.expect("READY=1", Duration::from_secs(15));
    // READY means the API answers: the very first request after it must succeed.
    assert!(d.ping(), "READY=1 arrived but /_ping does not answer\n{}", d.log_tail(20));
    assert_eq!(m.seen.len(), 1, "READY=1 should be the first notification: {:#?}", m.seen);
    assert_eq!(status_of(&ready), "running: 0 containers, 0 orphans; live restore off");

    assert_children_clean(&mut d, "envcheck");

    // SIGHUP after turning live restore on: RELOADING=1 (with MONOTONIC_USEC) then READY=1.
    d.write_config(r#"{"live-restore": true}"#);
    d.hup();
    let reloading = m.expect("RELOADING=1", Duration::from_secs(10));
    assert!(reloading.lines().any(|l| l.starts_with("MONOTONIC_USEC=")), "{reloading:?}");
    assert_eq!(status_of(&reloading), "reloading configuration");
    let after = m.expect("READY=1", Duration::from_secs(10));
    assert_eq!(status_of(&after), "running: 1 containers, 0 orphans; live restore on");

    // A daemon.json that does not parse: the reload ends (READY=1) with the running
    // configuration and says so.
    d.write_config(r#"{"live-restore": tru"#);
    d.hup();
    m.expect("RELOADING=1", Duration::from_secs(10));
    let failed = m.expect("READY=1", Duration::from_secs(10));
    assert!(status_of(&failed).starts_with("reload failed, running configuration kept: "), "{failed:?}");
    d.write_config(r#"{"live-restore": true}"#);

    // A crash and a new start: the first status names the containers being restored, and a
    // settled one follows.
    d.kill9();
    d.wait_exit(Duration::from_secs(10)).expect("daemon gone after SIGKILL");
    d.spawn_unready();
    let ready = m.expect("READY=1", Duration::from_secs(15));
    assert!(d.ping(), "READY=1 arrived but /_ping does not answer\n{}", d.log_tail(20));
    assert_eq!(status_of(&ready), "restoring 1 containers");
    let settled = m.expect("STATUS=running: 1 containers, 0 orphans; live restore on", Duration::from_secs(20));
    assert!(!settled.contains("READY=1"), "one READY=1 per start: {settled:?}");

    d.term();
    let stopping = m.expect("STOPPING=1", Duration::from_secs(10));
    assert_eq!(status_of(&stopping), "stopping: live restore on, 1 containers keep running");
    assert!(d.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", d.log_tail(20));
    m.drain();
    let readies = m.seen.iter().filter(|s| s.lines().any(|l| l == "READY=1")).count();
    assert_eq!(readies, 4, "two starts and two reloads: {:#?}", m.seen);
}

/// What the clients saw: answers, connections refused (connect failed: what socket activation
/// must make impossible), and requests cut after connecting (in flight when the daemon died).
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    refused: std::sync::Mutex<Vec<String>>,
    cut: std::sync::Mutex<Vec<String>>,
}

/// Requests `/_ping` in a loop, one connection each, until told to stop.
fn pinger(sock: PathBuf, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    use std::io::{Read, Write};
    while !stop.load(Ordering::SeqCst) {
        let mut s = match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(s) => s,
            Err(e) => {
                tally.refused.lock().unwrap().push(e.to_string());
                continue;
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = Vec::new();
        let sent = s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let read = sent.and_then(|()| s.read_to_end(&mut answer));
        let text = String::from_utf8_lossy(&answer);
        match read {
            Ok(_) if text.starts_with("HTTP/1.1 200") && text.ends_with("OK") => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => tally.cut.lock().unwrap().push(format!("answer {text:?}")),
            Err(e) => tally.cut.lock().unwrap().push(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Restarts the daemon `n` times (SIGKILL or SIGTERM) while `clients` threads make requests;
/// returns the tally.
fn restarts_under_load(d: &mut TestDaemon, m: &mut Manager, sig: &str, n: usize, clients: usize) -> Arc<Tally> {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (s, st, t) = (d.socket.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || pinger(s, st, t))
        })
        .collect();
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(300));
        match sig {
            "KILL" => d.kill9(),
            _ => d.term(),
        }
        d.wait_exit(Duration::from_secs(20)).expect("daemon exited");
        assert!(Path::new(&d.socket).exists(), "the passed socket's file must outlive the daemon");
        let before = tally.ok.load(Ordering::SeqCst);
        // Down for a while: connections queue in the socket's backlog instead of being refused.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(tally.ok.load(Ordering::SeqCst), before, "answers while no daemon runs?");
        d.restart();
        m.expect("READY=1", Duration::from_secs(10));
        let answered = wait_until(Duration::from_secs(5), || tally.ok.load(Ordering::SeqCst) > before);
        assert!(answered, "no answer after the restart");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let (refused, cut) = (tally.refused.lock().unwrap().len(), tally.cut.lock().unwrap().len());
    eprintln!("SIG{sig} x{n}: {} answers, {refused} refused, {cut} cut in flight", tally.ok.load(Ordering::SeqCst));
    tally
}

#[test]
fn socket_activation_restart_refuses_no_connection() {
    let mut m = Manager::new("activation");
    let opts =
        DaemonOpts::new("systemd-socket").socket_activation("fd://").live_restore(true).env("NOTIFY_SOCKET", &m.path());
    let mut d = TestDaemon::start(opts);
    m.expect("READY=1", Duration::from_secs(10));
    assert!(d.log_text().contains("passed by the service manager"), "{}", d.log_tail(20));
    assert_children_clean(&mut d, "envcheck");

    // `systemctl restart`: SIGTERM, then a new daemon on the same socket. Nothing is refused,
    // and the old daemon finishes what it accepted before it exits.
    let t = restarts_under_load(&mut d, &mut m, "TERM", 4, 3);
    assert!(t.refused.lock().unwrap().is_empty(), "refused: {:?}", t.refused.lock().unwrap());
    assert!(t.cut.lock().unwrap().is_empty(), "cut by a clean stop: {:?}\n{}", t.cut.lock().unwrap(), d.log_tail(30));
    assert!(t.ok.load(Ordering::SeqCst) > 50, "too few requests to show anything");

    // A crash: still nothing refused. A request the daemon had accepted when SIGKILL hit is
    // lost with it (no process can answer it), so at most one per client per kill.
    let t = restarts_under_load(&mut d, &mut m, "KILL", 4, 3);
    assert!(t.refused.lock().unwrap().is_empty(), "refused: {:?}", t.refused.lock().unwrap());
    let cut = t.cut.lock().unwrap().clone();
    assert!(cut.len() <= 4 * 3, "more requests cut than were in flight at the kills: {cut:?}");
    assert!(t.ok.load(Ordering::SeqCst) > 50, "too few requests to show anything");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "berthd changed the passed socket's mode (the socket unit's business)");
    // The container outlived every restart (live restore).
    assert_eq!(d.state("envcheck").status, "running");
}

#[test]
fn fd_host_without_passed_socket_is_a_clear_error() {
    let mut d = TestDaemon::spawn(DaemonOpts::new("systemd-nofd").arg("-H").arg("fd://"));
    let st = d.wait_exit(Duration::from_secs(15)).expect("berthd should refuse to start");
    assert!(!st.success());
    let log = d.log_text();
    assert!(log.contains("host 'fd://': no socket was passed to berthd"), "{log}");
}

#[test]
fn named_fd_host_serves_the_socket_it_names_with_its_role() {
    // The harness names its socket "berth.socket", as systemd names a unit's sockets by default.
    let d =
        TestDaemon::start(DaemonOpts::new("systemd-named").socket_activation("berth+fd://berth.socket?role=read-only"));
    assert_eq!(d.api_get("/containers/json").status, 200);
    let r = d.api_post("/containers/create", r#"{"Image":"busybox"}"#);
    assert_eq!(r.status, 403, "a read-only passed socket must refuse writes: {}", r.text());
    drop(d);
    let mut d = TestDaemon::spawn(DaemonOpts::new("systemd-misnamed").socket_activation("fd://other"));
    assert!(d.wait_exit(Duration::from_secs(15)).is_some_and(|s| !s.success()));
    let log = d.log_text();
    assert!(log.contains("host 'fd://other': no passed socket matches it (passed: berth.socket (fd 3))"), "{log}");
}

#[test]
fn stopping_without_live_restore_extends_the_stop_timeout() {
    let mut m = Manager::new("extend");
    let mut d = TestDaemon::start(DaemonOpts::new("systemd-extend").env("NOTIFY_SOCKET", &m.path()));
    m.expect("READY=1", Duration::from_secs(10));
    d.busybox_image();
    let graceful = "trap 'exit 0' TERM; while :; do sleep 0.1; done";
    d.run_detached(&["--name", "slow", "--stop-timeout", "40", "busybox", "sh", "-c", graceful]);
    d.term();
    let stopping = m.expect("STOPPING=1", Duration::from_secs(10));
    assert_eq!(status_of(&stopping), "stopping: stopping 1 containers (live restore off)");
    // The longest stop timeout (40 s, over shutdown-timeout's 15) + 2 s, + 30 s for kill and clean-up.
    assert!(stopping.lines().any(|l| l == "EXTEND_TIMEOUT_USEC=72000000"), "{stopping:?}");
    assert!(d.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "{}", d.log_tail(20));
}

/// The units in contrib/systemd: systemd's own checker finds nothing to say (it only warns on an
/// unknown key, so any output fails), and the lines Berth's invariants hang on are there.
#[test]
fn contrib_units_verify() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd");
    let service = std::fs::read_to_string(src.join("berth.service")).expect("read berth.service");
    let socket = std::fs::read_to_string(src.join("berth.socket")).expect("read berth.socket");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/berthd -H fd://",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "KillMode=process",
        "Delegate=yes",
        "TasksMax=infinity",
        "Restart=always",
        "Requires=berth.socket",
    ] {
        assert!(service.lines().any(|l| l == line), "berth.service lacks {line:?}");
    }
    for line in ["ListenStream=/run/berth/berth.sock", "SocketMode=0660", "SocketGroup=berth"] {
        assert!(socket.lines().any(|l| l == line), "berth.socket lacks {line:?}");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze not installed: only the unit lines were checked");
        return;
    };
    // The check wants ExecStart's binary to exist: this build's berthd stands in for
    // /usr/bin/berthd.
    let dir = PathBuf::from(format!("/tmp/bt-units-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let berthd = berth_tests::workspace_bin("berthd");
    std::fs::write(dir.join("berth.service"), service.replace("/usr/bin/berthd", &berthd.display().to_string()))
        .unwrap();
    std::fs::write(dir.join("berth.socket"), &socket).unwrap();
    let out = std::process::Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(dir.join("berth.socket"))
        .arg(dir.join("berth.service"))
        .output()
        .expect("run systemd-analyze");
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {}\n{said}", out.status);
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var("PATH").unwrap_or_default().split(':').map(|d| Path::new(d).join(name)).find(|p| p.exists()).ok_or(())
}
