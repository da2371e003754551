//! The shim against real runc containers, as root.

mod common;

use berth_proto::{paths, InitStatus, MonitorRecord, Request, Response, StartReport};
use common::{vm_rss_kib, Client, Fixture, Options};
use std::time::{Duration, Instant};

#[test]
fn prints_numbered_lines_then_exit_code_is_recorded() {
    const N: usize = 500;
    let mut f = Fixture::new("lines", Options::sh(&format!("for i in $(seq 1 {N}); do echo line $i; done; exit 3")));
    let (shim_pid, container_pid) = f.started();
    assert_ne!(shim_pid, container_pid);
    let rec: MonitorRecord = berth_proto::fsutil::read_json(&f.cfg.state_dir.join(paths::MONITOR_RECORD))
        .unwrap()
        .expect("monitor record written before Started");
    assert_eq!((rec.shim_pid, rec.container_pid, rec.protocol), (shim_pid, container_pid, berth_proto::PROTOCOL));
    assert!(rec.shim_binary.ends_with("berth-shim"), "{:?}", rec.shim_binary);
    let exit = f.wait_shim_exit(Duration::from_secs(20));
    assert_eq!((exit.exit_code, exit.signal, exit.pid, exit.oom_killed), (3, None, container_pid, false));
    let e = f.log_entries();
    let logs: Vec<&str> = e.iter().map(|v| v["log"].as_str().unwrap()).collect();
    let want: Vec<String> = (1..=N).map(|i| format!("line {i}\n")).collect();
    assert_eq!(logs, want);
    assert!(e.iter().all(|v| v["stream"] == "stdout" && v["time"].as_str().unwrap().ends_with('Z')));
    assert!(!f.socket().exists(), "socket removed on exit");
    let st = f.runc(&["state", &f.id]);
    assert!(!st.status.success(), "runtime delete ran: {}", String::from_utf8_lossy(&st.stdout));
}

#[test]
fn failed_start_reports_the_runtime_error() {
    let mut f = Fixture::new("fail", Options { args: vec!["nope".into()], ..Options::sh("") });
    let (report, code) = f.start();
    match report {
        StartReport::Failed { message } => {
            assert!(message.contains(r#"exec: "nope": executable file not found in $PATH"#), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code, 1);
    assert!(!f.runc(&["state", &f.id]).status.success(), "runc delete --force cleaned up");
}

#[test]
fn protocol_hello_state_kill_wait() {
    let mut f = Fixture::new("proto", Options::sh("echo to-stderr >&2; exec sleep 1000"));
    let (shim_pid, container_pid) = f.started();
    let sock = f.socket();
    let mode = std::fs::metadata(&sock).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.unwrap(), 0o600);

    let status = std::fs::read_to_string(format!("/proc/{container_pid}/status")).unwrap();
    let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    assert_eq!(blocked.split_whitespace().nth(1), Some("0000000000000000"), "the shim's signal mask leaked");

    let mut c = Client::connect(&sock);
    assert!(matches!(c.call(&Request::State), Response::Error { .. }), "hello must come first");
    match c.call(&Request::Hello { min: 1, max: 5, client: "test".into() }) {
        Response::Hello { version, capabilities, shim_version, pid } => {
            assert_eq!((version, pid), (1, shim_pid));
            assert_eq!(shim_version, env!("CARGO_PKG_VERSION"));
            for cap in ["state", "kill", "wait"] {
                assert!(capabilities.iter().any(|c| c == cap), "{capabilities:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    match c.call(&Request::State) {
        Response::State { status: InitStatus::Running, pid, start_time, exit: None } => {
            assert_eq!((pid, start_time), (container_pid, f.init.unwrap().start_time))
        }
        other => panic!("{other:?}"),
    }
    c.w.write_all_line(b"{\"op\":\"frobnicate\"}");
    assert!(matches!(c.recv(), Response::Error { .. }));
    c.w.write_all_line(b"not json at all");
    assert!(matches!(c.recv(), Response::Error { .. }));
    assert!(matches!(c.call(&Request::Resize { rows: 10, cols: 10, exec: None }), Response::Error { .. }), "no tty");
    assert_eq!(c.call(&Request::ReopenLog), Response::Ok);

    // Two waiters, one slow client that never reads: none of them hold up the kill.
    let mut w1 = Client::hello(&sock);
    let mut w2 = Client::hello(&sock);
    w1.send(&Request::Wait);
    w2.send(&Request::Wait);
    let _idle = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.call(&Request::Kill { signal: 9, all: false }), Response::Ok);
    for w in [&mut w1, &mut w2] {
        match w.recv() {
            Response::Exited(rec) => assert_eq!((rec.exit_code, rec.signal), (137, Some(9))),
            other => panic!("{other:?}"),
        }
    }
    let exit = f.wait_shim_exit(Duration::from_secs(10));
    assert_eq!(exit.exit_code, 137);
    let e = f.log_entries();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0]["log"].as_str(), e[0]["stream"].as_str()), (Some("to-stderr\n"), Some("stderr")));
}

#[test]
fn kill_all_goes_through_the_runtime() {
    let mut f = Fixture::new("killall", Options::sh("sleep 1000 & sleep 1000 & exec sleep 1000"));
    f.started();
    // Wait first, on its own connection: once the container is gone the shim records the exit
    // and leaves, so a Wait sent after the kill may find no one to answer it (exit.json does).
    let mut w = Client::hello(&f.socket());
    w.send(&Request::Wait);
    let mut c = Client::hello(&f.socket());
    assert_eq!(c.call(&Request::Kill { signal: 9, all: true }), Response::Ok);
    match w.recv() {
        Response::Exited(rec) => assert_eq!(rec.exit_code, 137),
        other => panic!("{other:?}"),
    }
    f.wait_shim_exit(Duration::from_secs(10));
}

#[test]
fn version_mismatch_is_refused_with_the_version_error() {
    let mut f = Fixture::new("version", Options::sh("exec sleep 1000"));
    f.started();
    let mut c = Client::connect(&f.socket());
    match c.call(&Request::Hello { min: 99, max: 99, client: "future".into() }) {
        Response::Error { message } => {
            assert!(message.contains("99") && message.contains("not supported"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The shim closes after the error: the write may already fail with EPIPE.
    let _ = berth_proto::write_msg(&mut c.w, &Request::State);
    match berth_proto::read_msg::<_, Response>(&mut c.r) {
        Err(berth_proto::WireError::Closed) => {}
        Err(berth_proto::WireError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("connection should be closed: {other:?}"),
    }
    // The shim itself is unaffected.
    let mut ok = Client::hello(&f.socket());
    assert!(matches!(ok.call(&Request::State), Response::State { status: InitStatus::Running, .. }));
}

#[test]
fn writer_runs_at_full_speed_while_nobody_talks_to_the_shim() {
    const LINES: usize = 300_000;
    let mut f = Fixture::new(
        "speed",
        Options::sh(&format!("yes 'the quick brown fox jumps over the lazy dog' | head -n {LINES}; exit 0")),
    );
    let t0 = Instant::now();
    let (shim_pid, _) = f.started();
    // Nobody talks to the shim from here on; sample its memory while it writes.
    let (mut rss_max, mut samples) = (0, 0);
    while let Some(kib) = vm_rss_kib(shim_pid) {
        rss_max = rss_max.max(kib);
        samples += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let exit = f.wait_shim_exit(Duration::from_secs(60));
    let took = t0.elapsed();
    assert_eq!(exit.exit_code, 0);
    let text = std::fs::read_to_string(f.log_path()).unwrap();
    let n = text.lines().count();
    assert_eq!(n, LINES);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "the quick brown fox jumps over the lazy dog\n");
    eprintln!(
        "{LINES} lines ({} MiB of log) in {took:?}; shim VmRSS while writing: max {rss_max} KiB over {samples} samples",
        text.len() / (1 << 20)
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn sigterm_is_ignored_and_sigkill_of_the_shim_leaves_the_container_running() {
    let mut f = Fixture::new("orphan", Options::sh("exec sleep 1000"));
    let (shim_pid, _) = f.started();
    std::thread::sleep(Duration::from_millis(100));
    eprintln!("idle shim VmRSS: {:?} KiB", vm_rss_kib(shim_pid));
    let shim = f.shim.unwrap();
    let init = f.init.unwrap();
    berth_sys::kill_verified(&shim, 15).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(shim.is_alive(), "SIGTERM does not end the monitor");
    berth_sys::kill_verified(&shim, 9).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while shim.is_alive() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(init.is_alive(), "the container survives its monitor");
    assert!(f.exit_record().is_none());
    // Fixture's Drop kills the init by pid and runs `runc delete --force`.
}

#[test]
fn log_rotation_with_small_max_size() {
    let mut f = Fixture::new(
        "rotate",
        Options { max_size: 2000, max_file: 3, ..Options::sh("for i in $(seq 1 300); do echo line $i; done") },
    );
    f.started();
    f.wait_shim_exit(Duration::from_secs(20));
    let base = f.log_path().to_path_buf();
    let rot = |n: u32| {
        let mut s = base.clone().into_os_string();
        s.push(format!(".{n}"));
        std::path::PathBuf::from(s)
    };
    assert!(rot(1).exists() && rot(2).exists() && !rot(3).exists());
    let mut all = Vec::new();
    for p in [rot(2), rot(1), base.clone()] {
        let len = std::fs::metadata(&p).unwrap().len();
        assert!(len < 2000 + 200, "{} has {len} bytes", p.display());
        all.extend(common::entries(&p).into_iter().map(|v| v["log"].as_str().unwrap().to_string()));
    }
    let first: usize = all[0].trim_start_matches("line ").trim().parse().unwrap();
    let want: Vec<String> = (first..=300).map(|i| format!("line {i}\n")).collect();
    assert_eq!(all, want, "the newest lines, contiguous, in order");
}

#[test]
fn terminal_container_gets_a_pty_and_resize_works() {
    let mut f = Fixture::new("tty", Options { terminal: true, ..Options::sh("sleep 0.3; stty size; tty; exit 4") });
    f.started();
    let mut c = Client::hello(&f.socket());
    assert_eq!(c.call(&Request::Resize { rows: 33, cols: 77, exec: None }), Response::Ok);
    let exit = f.wait_shim_exit(Duration::from_secs(20));
    assert_eq!(exit.exit_code, 4);
    let logs: String = f.log_entries().iter().map(|v| v["log"].as_str().unwrap().to_string()).collect();
    assert!(logs.contains("33 77\r\n"), "{logs:?}");
    assert!(logs.contains("/dev/pts/") || logs.contains("/dev/console"), "{logs:?}");
}

#[test]
fn unterminated_last_line_is_flushed_at_eof() {
    let mut f = Fixture::new("partial", Options::sh("echo a; printf 'no newline'; printf 'err' >&2"));
    f.started();
    assert_eq!(f.wait_shim_exit(Duration::from_secs(20)).exit_code, 0);
    let mut got: Vec<(String, String)> = f
        .log_entries()
        .iter()
        .map(|v| (v["stream"].as_str().unwrap().to_string(), v["log"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    let want = [("stderr", "err"), ("stdout", "a\n"), ("stdout", "no newline")];
    let want: Vec<(String, String)> = want.iter().map(|(s, l)| (s.to_string(), l.to_string())).collect();
    assert_eq!(got, want);
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn clients_that_vanish_mid_wait_cost_nothing() {
    let mut f = Fixture::new("vanish", Options::sh("exec sleep 1000"));
    let (shim_pid, _) = f.started();
    for _ in 0..5 {
        let mut c = Client::hello(&f.socket());
        c.send(&Request::Wait);
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks(shim_pid);
    std::thread::sleep(Duration::from_millis(700));
    let used = cpu_ticks(shim_pid) - before;
    assert!(used <= 5, "idle shim burnt {used} ticks in 700 ms");
    let mut c = Client::hello(&f.socket());
    assert!(matches!(c.call(&Request::State), Response::State { status: InitStatus::Running, .. }));
}

#[test]
fn oom_kill_is_recorded() {
    let mut f = Fixture::new(
        "oom",
        Options { memory_limit: Some(16 << 20), ..Options::sh("a=$(yes | head -c 300000000); echo survived") },
    );
    f.started();
    let exit = f.wait_shim_exit(Duration::from_secs(60));
    assert_eq!((exit.exit_code, exit.signal, exit.oom_killed), (137, Some(9), true), "{exit:?}");
}

#[test]
fn a_stale_exit_record_is_removed_at_start() {
    let mut f = Fixture::new("stale", Options::sh("exec sleep 1000"));
    std::fs::create_dir_all(&f.cfg.container_dir).unwrap();
    let stale = berth_proto::ExitRecord {
        exit_code: 1,
        signal: None,
        finished_at: "2000-01-01T00:00:00.000000000Z".into(),
        pid: 1,
        oom_killed: false,
        unknown: false,
    };
    berth_proto::fsutil::write_json_atomic(&f.cfg.container_dir.join(paths::EXIT_RECORD), &stale).unwrap();
    f.started();
    assert!(f.exit_record().is_none());
}

trait WriteLine {
    fn write_all_line(&mut self, b: &[u8]);
}
impl WriteLine for std::os::unix::net::UnixStream {
    fn write_all_line(&mut self, b: &[u8]) {
        use std::io::Write;
        self.write_all(b).unwrap();
        self.write_all(b"\n").unwrap();
    }
}
