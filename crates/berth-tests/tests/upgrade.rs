//! Upgrades (issue 5): a daemon restores every container whose monitor it can speak to, across
//! versions in either direction; a monitor it cannot speak to leaves an orphan that is shown
//! with the reason and never killed; installed binaries replaced under running monitors break
//! nothing. The older/newer monitor is built by the test with another version stamp and protocol
//! range (BERTH_BUILD_VERSION / BERTH_BUILD_PROTOCOL); the daemon's own range, and a monitor's
//! unknown protocol, are set at run time in debug builds (BERTH_TEST_DAEMON_PROTOCOL /
//! BERTH_TEST_MONITOR_PROTOCOL; monitors inherit the daemon's environment).

use berth_tests::converge::assert_converged;
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

const TICK: &str = "i=0; trap 'exit 3' TERM; while :; do i=$((i+1)); echo line $i; sleep 0.1; done";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Builds the monitor (`berth-shim`) with another version stamp and protocol range, as an older
/// or newer release would be, into its own target directory (cargo rebuilds only what the stamp
/// changes on later runs).
fn build_monitor(stamp: &str, protocol: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target").join(format!("monitor-{stamp}"));
    let build = |offline: bool| {
        let mut c = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&root)
            .args(["build", "-p", "berth-shim", "--target-dir"])
            .arg(&target)
            .env("BERTH_BUILD_VERSION", stamp)
            .env("BERTH_BUILD_PROTOCOL", protocol)
            .env_remove("CARGO_TARGET_DIR");
        if offline {
            c.arg("--offline");
        }
        c.output().unwrap()
    };
    let mut out = build(true);
    if !out.status.success() {
        out = build(false);
    }
    assert!(out.status.success(), "building monitor {stamp}: {}", String::from_utf8_lossy(&out.stderr));
    let bin = target.join("debug").join("berth-shim");
    let v = std::process::Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains(stamp) || v.status.success(), "{bin:?}");
    bin
}

/// Runs a ticking container under a monitor built as `stamp`/`protocol`, then kill -9 of the
/// daemon and a restart with this build's monitor as the installed one: the container is restored,
/// the same process, fully managed through its old monitor; new containers get the new monitor.
fn restored_across(name: &str, stamp: &str, protocol: &str, daemon_env: &[(&str, &str)], negotiated: u64) {
    let old = build_monitor(stamp, protocol);
    let mut opts = DaemonOpts::new(name).live_restore(true);
    let mut first = vec![("BERTH_SHIM", old.to_str().unwrap())];
    first.extend_from_slice(daemon_env);
    opts.env = env(&first);
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    d.run_detached(&["--name", "tick", "busybox", "sh", "-c", TICK]);
    let pid = d.container_pid("tick");
    let mon = d.inspect("tick")["State"]["Berth"]["Monitor"].clone();
    assert_eq!(mon["Version"], stamp, "{mon}");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.env = env(daemon_env);
    d.restart();
    assert!(
        wait_until(Duration::from_secs(5), || d.state("tick").status == "running"),
        "{:?}",
        d.inspect("tick")["State"]
    );
    assert_eq!(d.container_pid("tick"), pid, "the same process, restored");
    let before = d.docker_ok(&["logs", "tick"]).lines().count();
    assert!(
        wait_until(Duration::from_secs(3), || d.docker_ok(&["logs", "tick"]).lines().count() > before),
        "logs keep coming"
    );
    d.docker_ok(&["exec", "tick", "true"]);
    d.run_detached(&["--name", "fresh", "busybox", "sleep", "100"]);
    assert_eq!(d.inspect("fresh")["State"]["Berth"]["Monitor"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d.inspect("fresh")["State"]["Berth"]["Monitor"]["Protocol"], negotiated.max(1));
    d.docker_ok(&["stop", "tick"]);
    assert_eq!(d.state("tick").exit_code, 3, "the true exit code through the old monitor");
    d.docker_ok(&["rm", "-f", "fresh"]);
    assert_converged(&d, &[]);
}

#[test]
fn newer_monitor_is_restored_by_an_older_daemon() {
    // A monitor of a later minor release speaking protocols 1–2; this daemon speaks 1.
    restored_across("upg-newer-monitor", "0.2.0", "1-2", &[], 1);
}

#[test]
fn older_monitor_is_restored_by_a_newer_daemon() {
    // A monitor of an earlier release (protocol 1) under a daemon that speaks 1–3.
    restored_across("upg-older-monitor", "0.0.9", "1-1", &[("BERTH_TEST_DAEMON_PROTOCOL", "1-3")], 1);
}

/// A monitor speaking only a protocol the restarted daemon does not know: the container is shown
/// running but orphaned, with the reason in words; it is never killed by the daemon; stop, rm -f
/// and forget work on it through its verified pid.
#[test]
fn unknown_protocol_leaves_orphans_that_are_shown_and_managed() {
    let mut opts = DaemonOpts::new("upg-orphan").live_restore(true);
    opts.env = env(&[("BERTH_TEST_MONITOR_PROTOCOL", "7-7"), ("BERTH_TEST_DAEMON_PROTOCOL", "1-7")]);
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    for n in ["o1", "o2", "o3"] {
        d.run_detached(&["--name", n, "busybox", "sh", "-c", TICK]);
    }
    let pids: Vec<i32> = ["o1", "o2", "o3"].iter().map(|n| d.container_pid(n)).collect();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.env.clear();
    d.restart();
    let reason = "monitor protocol 7 not supported: this daemon speaks 1–1";
    assert!(wait_until(Duration::from_secs(5), || d.inspect("o1")["State"]["Berth"]["Status"] == "orphaned"));
    assert_eq!(d.inspect("o1")["State"]["Berth"]["Reason"], reason);
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().filter(|l| l.contains("(orphaned: monitor protocol 7 not supported")).count() == 3, "{ps}");
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "never killed on doubt");
    }
    d.docker_ok(&["stop", "o1"]);
    assert_eq!(d.state("o1").status, "exited");
    assert_eq!(d.state("o1").exit_code, 3, "the exit code its monitor recorded, not a made-up one");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pids[0])).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", pids[0])).unwrap_or_default().contains(") Z")
    );
    d.docker_ok(&["rm", "-f", "o2"]);
    assert_eq!(d.docker(&["inspect", "o2"]).status.code(), Some(1));
    let berth = berth_tests::berth_bin();
    let out = std::process::Command::new(&berth)
        .args(["-H", &format!("unix://{}", d.socket.display()), "container", "forget", "o3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "forget: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(d.docker(&["inspect", "o3"]).status.code(), Some(1), "forgotten");
    assert!(std::path::Path::new(&format!("/proc/{}", pids[2])).exists(), "forget leaves the process alone");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[2]), nix::sys::signal::Signal::SIGKILL);
}

/// The installed monitor binary is replaced (deleted, another file in its place) while containers
/// run; a restarted daemon restores them all: each monitor keeps running the binary it started from.
#[test]
fn replacing_installed_binaries_under_running_monitors_breaks_nothing() {
    let install = std::env::temp_dir().join(format!("berth-upg-install-{}", std::process::id()));
    std::fs::create_dir_all(&install).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Rm(install.clone());
    let shim = install.join("berth-shim");
    std::fs::copy(berth_tests::bin_dir().join("berth-shim"), &shim).unwrap();
    let mut opts = DaemonOpts::new("upg-binaries").live_restore(true);
    opts.env = env(&[("BERTH_SHIM", shim.to_str().unwrap())]);
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    d.run_detached(&["--name", "tick", "busybox", "sh", "-c", TICK]);
    let pid = d.container_pid("tick");
    // The "upgrade": the old file is unlinked and a new one written in its place.
    std::fs::remove_file(&shim).unwrap();
    std::fs::write(&shim, b"#!/bin/sh\nexit 99\n").unwrap();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.opts.env.clear();
    d.restart();
    assert!(
        wait_until(Duration::from_secs(5), || d.state("tick").status == "running"),
        "{:?}",
        d.inspect("tick")["State"]
    );
    assert_eq!(d.container_pid("tick"), pid);
    d.docker_ok(&["stop", "tick"]);
    assert_eq!(d.state("tick").exit_code, 3);
    // New containers use the daemon's current monitor.
    d.run_detached(&["--name", "fresh", "busybox", "sleep", "1000"]);
    d.docker_ok(&["rm", "-f", "fresh", "tick"]);
    assert_converged(&d, &[]);
}
