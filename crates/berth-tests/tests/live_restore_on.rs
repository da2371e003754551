//! Live restore on: killing the daemon (SIGKILL or SIGTERM) never stops, pauses or blocks a
//! container; after a restart the daemon reconnects to every one of them, nothing written to stdout
//! is lost or duplicated, exits during the outage are recorded with their code and time, and the
//! restored containers are fully manageable.

use berth_sys::ProcessIdentity;
use berth_tests::{identity, outage, parse_rfc3339, unix_now, wait_until, DaemonOpts, TestDaemon, Watchdog};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Numbered lines, paced at most 50 000 a second: a blocked writer still shows (a pipe fills in
/// about a second), while the log stays small enough that the syncs of later stops and removals
/// do not write back gigabytes on a loaded machine. The benchmark measures the writer flat out.
const PRINTER: &str = "i=0; while :; do echo $i; i=$((i+1)); case $i in *000) usleep 20000;; esac; done";

struct Tracked {
    name: &'static str,
    pid: i32,
    ident: ProcessIdentity,
    started_at: String,
}

fn track(d: &TestDaemon, name: &'static str) -> Tracked {
    let s = d.state(name);
    assert!(s.running && s.pid > 0, "{name} should be running: {s:?}");
    let ident = identity(s.pid).unwrap_or_else(|| panic!("{name}: pid {} not found on the host", s.pid));
    Tracked { name, pid: s.pid, ident, started_at: s.started_at }
}

fn assert_alive(t: &[&Tracked], when: &str) {
    for c in t {
        assert!(c.ident.is_alive(), "{}: process {} died {when}", c.name, c.pid);
    }
}

/// Waits until the restored container reports running again (it may show `restoring` first), then
/// checks it is the very same process as before the outage.
fn assert_restored(d: &TestDaemon, t: &Tracked) {
    let ok = wait_until(Duration::from_secs(15), || d.state(t.name).status == "running");
    let s = d.state(t.name);
    assert!(ok, "{} not running after restore: {s:?}\n{}", t.name, d.log_tail(30));
    assert_eq!(s.pid, t.pid, "{}: State.Pid changed across restore", t.name);
    assert_eq!(s.started_at, t.started_at, "{}: StartedAt changed across restore", t.name);
    assert!(t.ident.is_alive(), "{}: process gone after restore", t.name);
}

/// Reads `docker logs -t printer` and checks the numbers run 0, 1, 2, … with no gap and no
/// duplicate; returns (lines before the kill, lines during the outage, first timestamp).
fn check_printer_log(d: &TestDaemon, t_kill: f64, t_restart: f64) -> (u64, u64, f64) {
    let mut child = d
        .docker_cmd(&["logs", "-t", "printer"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker logs");
    // A wedged daemon must fail the test, not hang it (the drop guard then cleans up).
    let dog = Watchdog::new(&child, Duration::from_secs(180));
    let out = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    let (mut expected, mut before, mut during, mut first_ts) = (0u64, 0u64, 0u64, None);
    let mut bad_tail: Option<String> = None;
    for line in out.lines() {
        let line = line.expect("read docker logs");
        if let Some(prev) = bad_tail.take() {
            panic!("unparsable log line {prev:?} before line {expected}");
        }
        let Some((ts, n)) = line.split_once(' ') else {
            bad_tail = Some(line);
            continue;
        };
        let (Some(ts), Ok(n)) = (parse_rfc3339(ts), n.trim().parse::<u64>()) else {
            // Only the very last line may be incomplete (the writer was killed mid-line).
            bad_tail = Some(line);
            continue;
        };
        assert_eq!(n, expected, "log gap or duplicate: got {n}, expected {expected}");
        expected += 1;
        first_ts.get_or_insert(ts);
        if ts < t_kill {
            before += 1;
        } else if ts < t_restart {
            during += 1;
        }
    }
    let st = child.wait().expect("wait docker logs");
    drop(dog);
    assert!(st.success(), "docker logs printer failed: {st}");
    assert!(expected > 0, "printer log is empty");
    (before, during, first_ts.unwrap())
}

#[test]
fn containers_survive_sigkill_and_are_restored() {
    let mut d = TestDaemon::start(DaemonOpts::new("lr-on-kill9").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "printer", "busybox", "sh", "-c", PRINTER]);
    d.run_detached(&["--name", "sleeper", "busybox", "sleep", "1000"]);
    d.run_detached(&["--name", "rmme", "busybox", "sleep", "1000"]);
    let t_exiter = unix_now();
    d.run_detached(&["--name", "exiter", "busybox", "sh", "-c", "sleep 3; exit 7"]);
    let printer = track(&d, "printer");
    let sleeper = track(&d, "sleeper");
    let rmme = track(&d, "rmme");
    let exiter = track(&d, "exiter");
    std::thread::sleep(Duration::from_secs(1));

    let t_kill = unix_now();
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("daemon did not die of SIGKILL");
    let outage = outage();
    let back_at = Instant::now() + outage;
    std::thread::sleep(outage / 2);
    assert_alive(&[&printer, &sleeper, &rmme], "in the middle of the outage");
    std::thread::sleep(back_at.saturating_duration_since(Instant::now()));
    assert_alive(&[&printer, &sleeper, &rmme], "at the end of the outage");
    let exited_during_outage = !exiter.ident.is_alive();

    let t_restart = unix_now();
    let took = d.restart();
    eprintln!("restart after SIGKILL: /_ping answered in {:.1} ms", took.as_secs_f64() * 1000.0);
    for t in [&printer, &sleeper, &rmme] {
        assert_restored(&d, t);
    }

    // The container that exited while nobody was listening: code and time recorded.
    assert!(wait_until(Duration::from_secs(15), || d.state("exiter").status == "exited"));
    let ex = d.state("exiter");
    assert_eq!(ex.exit_code, 7, "exiter: {ex:?}");
    if exited_during_outage {
        let fin = parse_rfc3339(&ex.finished_at).unwrap_or_else(|| panic!("bad FinishedAt {:?}", ex.finished_at));
        assert!(
            fin >= t_kill - 0.5 && fin <= t_restart + 0.5 && fin >= t_exiter + 2.5,
            "FinishedAt {} ({fin}) must fall in the outage [{t_kill}, {t_restart}]",
            ex.finished_at
        );
    }
    let running: Vec<String> = d.ps(false).into_iter().map(|(n, _)| n).collect();
    for n in ["printer", "sleeper", "rmme"] {
        assert!(running.contains(&n.to_string()), "docker ps lacks {n}: {running:?}");
    }
    assert!(!running.contains(&"exiter".to_string()), "exiter must not be running: {running:?}");
    let all = d.ps(true);
    let st = &all.iter().find(|(n, _)| n == "exiter").expect("exiter in ps -a").1;
    assert!(st.starts_with("Exited (7)"), "exiter status {st:?}");

    // logs -f follows a restored container.
    let mut follow = d
        .docker_cmd(&["logs", "-f", "--tail", "5", "printer"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dog = Watchdog::new(&follow, Duration::from_secs(30));
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut nums = Vec::new();
    for _ in 0..50 {
        nums.push(lines.next().expect("logs -f ended early").unwrap().trim().parse::<u64>().expect("number"));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    drop(dog);
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "logs -f not consecutive: {nums:?}");

    // wait + kill on a restored container.
    let waiter = d.docker_cmd(&["wait", "printer"]).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let _dog = Watchdog::new(&waiter, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    d.docker_ok(&["kill", "printer"]);
    let w = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), "137", "docker wait printer after kill");
    assert!(wait_until(Duration::from_secs(5), || !printer.ident.is_alive()), "printer still alive after kill");

    let (before, during, first_ts) = check_printer_log(&d, t_kill, t_restart);
    let rate_before = before as f64 / (t_kill - first_ts).max(0.001);
    let rate_outage = during as f64 / (t_restart - t_kill).max(0.001);
    eprintln!(
        "printer: {before} lines before the kill ({rate_before:.0}/s), {during} during the outage ({rate_outage:.0}/s), ratio {:.2}",
        rate_outage / rate_before.max(1.0)
    );
    assert!(during > 0, "the writer was blocked during the outage");
    let min_ratio: f64 = std::env::var("BERTH_TEST_MIN_RATE_RATIO").ok().and_then(|v| v.parse().ok()).unwrap_or(0.5);
    assert!(rate_outage >= min_ratio * rate_before, "writer slowed down during the outage");

    // stop, rm -f, wait on the other restored containers.
    d.docker_ok(&["stop", "-t", "1", "sleeper"]);
    let s = d.state("sleeper");
    assert_eq!((s.status.as_str(), s.exit_code), ("exited", 137), "sleeper after stop: {s:?}");
    assert!(!sleeper.ident.is_alive(), "sleeper process survived docker stop");
    d.docker_ok(&["rm", "-f", "rmme"]);
    assert!(wait_until(Duration::from_secs(5), || !rmme.ident.is_alive()), "rmme survived rm -f");
    assert!(!d.docker(&["container", "inspect", "rmme"]).status.success(), "rmme still known after rm -f");
    assert_eq!(d.docker_ok(&["wait", "exiter"]), "7");
    d.docker_ok(&["rm", "printer", "sleeper", "exiter"]);
    assert!(d.ps(true).is_empty());
}

#[test]
fn sigterm_with_live_restore_leaves_containers_untouched() {
    let mut d = TestDaemon::start(DaemonOpts::new("lr-on-term").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "aa", "busybox", "sleep", "1000"]);
    d.run_detached(&["--name", "bb", "busybox", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 1; done"]);
    let a = track(&d, "aa");
    let b = track(&d, "bb");

    let t0 = Instant::now();
    d.term();
    let st = d.wait_exit(Duration::from_secs(5)).expect("daemon still running 5 s after SIGTERM");
    let took = t0.elapsed();
    eprintln!("SIGTERM with live restore: daemon gone after {took:?} ({st})");
    assert!(took <= Duration::from_secs(1), "daemon took {took:?} to exit on SIGTERM with live restore");
    assert!(st.success(), "daemon should exit 0 on SIGTERM, got {st}");
    std::thread::sleep(Duration::from_secs(2));
    assert_alive(&[&a, &b], "after the daemon's SIGTERM shutdown");

    d.restart();
    assert_restored(&d, &a);
    assert_restored(&d, &b);
    // The stop signal still reaches the trap in b: it exits with its own code.
    d.docker_ok(&["stop", "-t", "5", "bb"]);
    assert_eq!(d.state("bb").exit_code, 3);
}
