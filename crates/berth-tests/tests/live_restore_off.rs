//! Live restore off: a daemon that stops takes its containers with it (stop signal, stop timeout,
//! then SIGKILL, all in parallel); a daemon that crashed cleans up the survivors when it comes back,
//! recording the exit codes they really had; SIGHUP decides which of the two a SIGTERM does.

use berth_sys::ProcessIdentity;
use berth_tests::{identity, stop_timeout_secs, wait_until, DaemonOpts, TestDaemon};
use std::time::{Duration, Instant};

const STUBBORN: &str = "trap '' TERM; sleep 1000";

fn ident_of(d: &TestDaemon, name: &str) -> ProcessIdentity {
    let pid = d.container_pid(name);
    identity(pid).unwrap_or_else(|| panic!("{name}: pid {pid} not on the host"))
}

#[test]
fn sigterm_stops_all_containers_within_their_stop_timeout() {
    let mut d = TestDaemon::start(DaemonOpts::new("lr-off-term"));
    d.busybox_image();
    let timeout = stop_timeout_secs();
    let t = timeout.to_string();
    let names: Vec<String> = (0..6).map(|i| format!("stubborn{i}")).collect();
    for n in &names {
        d.run_detached(&["--name", n, "--stop-timeout", &t, "busybox", "sh", "-c", STUBBORN]);
    }
    let idents: Vec<ProcessIdentity> = names.iter().map(|n| ident_of(&d, n)).collect();

    let t0 = Instant::now();
    d.term();
    let st = d.wait_exit(Duration::from_secs(timeout + 30)).expect("daemon never exited after SIGTERM");
    let took = t0.elapsed();
    eprintln!("SIGTERM without live restore: daemon gone after {took:?} ({st}), stop timeout {timeout}s");
    // In series the six stops would take six timeouts; in parallel, one plus the daemon's own
    // work, which on two cores shared with the rest of the suite once passed 500 ms. The figure
    // itself is the benchmark's (10.03 s for a 10 s timeout).
    let limit = Duration::from_secs(timeout) + Duration::from_secs(2);
    assert!(took <= limit, "shutdown took {took:?}, limit {limit:?}: containers must be stopped in parallel");
    assert!(took >= Duration::from_secs(timeout) - Duration::from_millis(300), "stop timeout not honoured: {took:?}");
    assert!(
        wait_until(Duration::from_secs(2), || idents.iter().all(|i| !i.is_alive())),
        "container processes survived the daemon's shutdown"
    );

    let took = d.restart();
    eprintln!("restart: /_ping after {took:?}");
    assert!(d.ps(false).is_empty(), "nothing may be running after restart");
    let all = d.ps(true);
    for n in &names {
        let st = &all.iter().find(|(x, _)| x == n).unwrap_or_else(|| panic!("{n} missing from ps -a: {all:?}")).1;
        assert!(st.starts_with("Exited (137)"), "{n}: status {st:?}");
        assert_eq!(d.state(n).exit_code, 137);
    }
}

#[test]
fn after_sigkill_restart_answers_at_once_and_stops_survivors() {
    let mut d = TestDaemon::start(DaemonOpts::new("lr-off-kill9"));
    d.busybox_image();
    d.run_detached(&["--name", "s1", "busybox", "sleep", "1000"]);
    d.run_detached(&["--name", "s2", "busybox", "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 1; done"]);
    d.run_detached(&["--name", "quitter", "busybox", "sh", "-c", "sleep 2; exit 5"]);
    let s1 = ident_of(&d, "s1");
    let s2 = ident_of(&d, "s2");
    let q = ident_of(&d, "quitter");

    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("daemon survived SIGKILL");
    // The monitors outlive the daemon whatever the setting; the quitter exits on its own meanwhile.
    assert!(wait_until(Duration::from_secs(10), || !q.is_alive()), "quitter did not exit");
    std::thread::sleep(Duration::from_millis(500));

    let took = d.restart();
    eprintln!("restart after SIGKILL without live restore: /_ping after {took:?}");
    assert!(took < Duration::from_secs(2), "API must answer at once on start, took {took:?}");
    let gone = wait_until(Duration::from_secs(30), || !s1.is_alive() && !s2.is_alive());
    assert!(gone, "survivors of a crash must be stopped when live restore is off\n{}", d.log_tail(30));
    assert!(wait_until(Duration::from_secs(10), || d.ps(false).is_empty()), "ps: {:?}", d.ps(false));

    assert_eq!(d.state("quitter").exit_code, 5, "the exit during the outage keeps its real code");
    let c1 = d.state("s1").exit_code;
    assert!(c1 == 137 || c1 == 143, "s1 exit code {c1}");
    // s2 handles SIGTERM: if the daemon stopped it gracefully the trap's code is the real one.
    let c2 = d.state("s2").exit_code;
    assert!(c2 == 42 || c2 == 137, "s2 exit code {c2}");
    for n in ["s1", "s2", "quitter"] {
        assert_eq!(d.state(n).status, "exited", "{n}");
    }
}

#[test]
fn sighup_decides_what_sigterm_does() {
    let mut d = TestDaemon::start(DaemonOpts::new("lr-off-hup").config(r#"{"live-restore": false}"#));
    d.busybox_image();
    let t = stop_timeout_secs().to_string();
    d.run_detached(&["--name", "cc", "--stop-timeout", &t, "busybox", "sleep", "1000"]);
    let c = ident_of(&d, "cc");

    d.write_config(r#"{"live-restore": true}"#);
    d.hup();
    assert!(wait_until(Duration::from_secs(10), || d.docker_ok(&["info", "-f", "{{.LiveRestoreEnabled}}"]) == "true"));
    d.term();
    d.wait_exit(Duration::from_secs(5)).expect("daemon did not exit on SIGTERM");
    std::thread::sleep(Duration::from_secs(1));
    assert!(c.is_alive(), "live restore switched on by SIGHUP: SIGTERM must leave the container running");

    d.restart();
    assert!(wait_until(Duration::from_secs(15), || d.state("cc").status == "running"));
    assert_eq!(d.container_pid("cc"), c.pid);

    d.write_config(r#"{"live-restore": false}"#);
    d.hup();
    assert!(wait_until(Duration::from_secs(10), || d.docker_ok(&["info", "-f", "{{.LiveRestoreEnabled}}"]) == "false"));
    d.term();
    d.wait_exit(Duration::from_secs(stop_timeout_secs() + 30)).expect("daemon did not exit on SIGTERM");
    assert!(
        wait_until(Duration::from_secs(2), || !c.is_alive()),
        "live restore switched off by SIGHUP: SIGTERM must stop the container"
    );
    d.restart();
    assert_eq!(d.state("cc").exit_code, 137, "sleep as pid 1 ignores SIGTERM: killed after the timeout");
}
