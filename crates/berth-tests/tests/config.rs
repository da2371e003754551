//! daemon.json and flags, Docker's way: refusals at start with messages naming the problem, one
//! daemon per data-root, and SIGHUP reloads that apply valid files and ignore invalid ones.

use berth_tests::{unix_now, wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

/// Starts a daemon that must refuse to run; returns its log.
fn refused(opts: DaemonOpts) -> String {
    let mut d = TestDaemon::spawn(opts);
    let st = d.wait_exit(Duration::from_secs(10));
    let log = d.log_text();
    let st = st.unwrap_or_else(|| panic!("daemon kept running; log:\n{log}"));
    assert!(!st.success(), "daemon exited successfully but should have refused; log:\n{log}");
    assert!(!d.ping(), "nothing may answer on the socket");
    log
}

#[test]
fn unknown_key_is_refused_by_name() {
    let log = refused(DaemonOpts::new("cfg-unknown").config(r#"{"debug": false, "no-such-option": 1}"#));
    assert!(log.contains("no-such-option"), "message must name the key; log:\n{log}");
    assert!(log.contains("daemon.json"), "message must name the file; log:\n{log}");
}

#[test]
fn invalid_json_names_file_and_position() {
    let d_opts =
        DaemonOpts::new("cfg-badjson").config("{\n  \"debug\": true,\n  \"live-restore\": ,\n  \"labels\": []\n}\n");
    let mut d = TestDaemon::spawn(d_opts);
    let st = d.wait_exit(Duration::from_secs(10)).expect("daemon must exit");
    let log = d.log_text();
    assert!(!st.success(), "log:\n{log}");
    let file = d.config_file.display().to_string();
    assert!(log.contains(&file), "message must name {file}; log:\n{log}");
    assert!(log.contains("line 3"), "message must give the position (line 3); log:\n{log}");
}

#[test]
fn live_restore_as_flag_and_in_file_is_refused_with_dockers_message() {
    let log = refused(DaemonOpts::new("cfg-both").live_restore(true).config(r#"{"live-restore": true}"#));
    let want = "the following directives are specified both as a flag and in the configuration file: \
                live-restore: (from flag: true, from file: true)";
    assert!(log.contains(want), "want {want:?}; log:\n{log}");
}

#[test]
fn second_daemon_on_same_root_is_refused() {
    let d = TestDaemon::start(DaemonOpts::new("cfg-second"));
    let (mut second, log_path) = d.spawn_duplicate();
    let exited = wait_until(Duration::from_secs(10), || second.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = second.kill();
        let _ = second.wait();
        panic!("second daemon on the same data-root kept running");
    }
    let st = second.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!st.success(), "second daemon must fail; log:\n{log}");
    let lower = log.to_lowercase();
    assert!(
        ["already running", "in use", "locked", "pid file", "pidfile", "another"].iter().any(|w| lower.contains(w)),
        "the refusal must say why (another daemon / pid file / lock); log:\n{log}"
    );
    // The first one is unharmed: still answering on its socket, pid file still its own.
    assert!(d.ping(), "first daemon must still answer");
    let pid_in_file = std::fs::read_to_string(&d.pidfile).unwrap_or_default();
    assert_eq!(pid_in_file.trim(), d.pid().to_string(), "pid file must still name the first daemon");
}

fn info_live_restore(d: &TestDaemon) -> String {
    d.docker_ok(&["info", "-f", "{{.LiveRestoreEnabled}}"])
}

#[test]
fn sighup_reloads_live_restore_and_emits_reload_event() {
    let mut d = TestDaemon::start(DaemonOpts::new("cfg-hup").config(r#"{"live-restore": false}"#));
    assert_eq!(info_live_restore(&d), "false");
    let since = unix_now().floor() as i64 - 1;
    d.write_config(r#"{"live-restore": true}"#);
    d.hup();
    assert!(
        wait_until(Duration::from_secs(10), || info_live_restore(&d) == "true"),
        "LiveRestoreEnabled did not become true after SIGHUP; log:\n{}",
        d.log_tail(30)
    );
    assert!(d.is_running(), "SIGHUP must not stop the daemon");
    let mut actions = String::new();
    let seen = wait_until(Duration::from_secs(10), || {
        let until = (unix_now().ceil() as i64).to_string();
        actions = d.docker_ok(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until,
            "--filter",
            "type=daemon",
            "--format",
            "{{.Type}} {{.Action}}",
        ]);
        actions.lines().any(|l| l.trim() == "daemon reload")
    });
    assert!(seen, "no daemon reload event; events: {actions:?}");

    // And back.
    d.write_config(r#"{"live-restore": false}"#);
    d.hup();
    assert!(wait_until(Duration::from_secs(10), || info_live_restore(&d) == "false"));
}

#[test]
fn invalid_file_on_sighup_keeps_old_config() {
    let mut d = TestDaemon::start(DaemonOpts::new("cfg-hup-bad").config(r#"{"live-restore": true}"#));
    assert_eq!(info_live_restore(&d), "true");
    for bad in [r#"{"live-restore": false,"#, r#"{"live-restore": false, "bogus-key": 1}"#] {
        d.write_config(bad);
        d.hup();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(d.is_running(), "a bad file on SIGHUP must not stop the daemon; log:\n{}", d.log_tail(30));
        assert!(d.ping());
        assert_eq!(info_live_restore(&d), "true", "config must be unchanged after bad file {bad:?}");
    }
    // A good file afterwards still applies.
    d.write_config(r#"{"live-restore": false}"#);
    d.hup();
    assert!(wait_until(Duration::from_secs(10), || info_live_restore(&d) == "false"));
}
