//! Restart policies while the daemon is down (issue 5): the monitor honours the policy itself,
//! and the daemon, when it returns, adopts the incarnation that runs, counts the restarts and
//! replays their events with their true times.

use berth_tests::converge::assert_converged;
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

/// Fails (exit 1) after a second on its first `fails` runs, then keeps running; counts runs in a
/// file on a bind-mounted host directory.
fn flaky(fails: u32) -> String {
    format!("n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; echo run $n; sleep 1; if [ $n -le {fails} ]; then exit 1; fi; exec sleep 1000")
}

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn state_dir(tag: &str) -> Dir {
    let p = std::env::temp_dir().join(format!("berth-restart-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    Dir(p)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn always_is_honoured_by_the_monitor_while_the_daemon_is_down() {
    let dir = state_dir("always");
    let mut d = TestDaemon::start(DaemonOpts::new("restart-outage").live_restore(true));
    d.busybox_image();
    let t0 = unix_now() as u64;
    let vol = format!("{}:/state", dir.0.display());
    d.run_detached(&["--name", "flaky", "--restart", "always", "-v", &vol, "busybox", "sh", "-c", &flaky(3)]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    // Three failures one second apart, with 100/200/400 ms back-off, all while the daemon is away.
    assert!(
        wait_until(Duration::from_secs(15), || std::fs::read_to_string(dir.0.join("n")).is_ok_and(|n| n.trim() == "4")),
        "the monitor restarted it three times"
    );
    let down_until = unix_now();
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("flaky").running), "{}", d.inspect("flaky")["State"]);
    let v = d.inspect("flaky");
    assert_eq!(v["RestartCount"], 3, "{}", v["State"]);
    let pid = v["State"]["Pid"].as_i64().unwrap();
    // The fourth run is the one that stays: its init becomes `sleep` (exec) after a second.
    let cmdline = || std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(3), || cmdline().starts_with("sleep")),
        "the record follows the incarnation that runs (pid {pid}: {:?})",
        cmdline()
    );
    let logs = d.docker_ok(&["logs", "flaky"]);
    assert_eq!(logs.lines().filter(|l| l.starts_with("run ")).count(), 4, "{logs}");
    // The restarts' events, replayed in order with the times they happened.
    std::thread::sleep(Duration::from_millis(1100));
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        "0s",
        "--filter",
        "container=flaky",
        "--format",
        "{{.Action}} {{.TimeNano}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    let lines: Vec<(String, f64, String)> = ev
        .lines()
        .map(|l| {
            let mut p = l.split(' ');
            (
                p.next().unwrap().to_string(),
                p.next().unwrap().parse::<f64>().unwrap() / 1e9,
                p.next().unwrap_or("").to_string(),
            )
        })
        .collect();
    let dies: Vec<_> = lines.iter().filter(|l| l.0 == "die").collect();
    assert_eq!(dies.len(), 3, "{ev}");
    assert!(dies.iter().all(|l| l.2 == "1" && l.1 < down_until), "true exit codes and times: {ev}");
    let starts = lines.iter().filter(|l| l.0 == "start").count();
    assert_eq!(starts, 4, "the first start and three restarts: {ev}");
    assert!(lines.windows(2).all(|w| w[0].1 <= w[1].1), "in order: {ev}");
    // With the daemon back, a user's stop is final.
    d.docker_ok(&["stop", "-t", "1", "flaky"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.state("flaky").status, "exited");
    d.docker_ok(&["rm", "flaky"]);
    assert_converged(&d, &[]);
}

#[test]
fn on_failure_limit_is_honoured_by_the_monitor_and_the_last_exit_is_final() {
    let dir = state_dir("onfail");
    let mut d = TestDaemon::start(DaemonOpts::new("restart-onfail").live_restore(true));
    d.busybox_image();
    let vol = format!("{}:/state", dir.0.display());
    d.run_detached(&["--name", "flaky", "--restart", "on-failure:2", "-v", &vol, "busybox", "sh", "-c", &flaky(5)]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    assert!(wait_until(Duration::from_secs(15), || {
        std::fs::read_to_string(dir.0.join("n")).is_ok_and(|n| n.trim() == "3")
    }));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read_to_string(dir.0.join("n")).unwrap().trim(), "3", "two restarts, no more");
    d.restart();
    assert!(
        wait_until(Duration::from_secs(5), || d.state("flaky").status == "exited"),
        "{}",
        d.inspect("flaky")["State"]
    );
    let v = d.inspect("flaky");
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["State"]["ExitCode"], 1);
    assert_converged(&d, &[]);
}

/// Exits and OOM kills during an outage are emitted on restore with the times they happened,
/// in order, and the container's state says OOMKilled.
#[test]
fn oom_kill_during_the_outage_is_replayed_with_its_true_time() {
    let mut d = TestDaemon::start(DaemonOpts::new("restart-oom").live_restore(true));
    d.busybox_image();
    let t0 = unix_now() as u64;
    // After a second, grow without bound (tail keeps the endless "line" from /dev/zero in memory).
    d.run_detached(&[
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "sleep 1; tail /dev/zero",
    ]);
    d.run_detached(&["--name", "quits", "busybox", "sh", "-c", "sleep 1; exit 9"]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(4));
    let down_until = unix_now();
    d.restart();
    assert!(
        wait_until(Duration::from_secs(5), || d.state("hog").status == "exited" && d.state("quits").status == "exited")
    );
    let hog = d.inspect("hog")["State"].clone();
    assert_eq!(hog["OOMKilled"], true, "{hog}");
    assert_eq!(hog["ExitCode"], 137, "{hog}");
    assert_eq!(d.state("quits").exit_code, 9);
    std::thread::sleep(Duration::from_millis(1100));
    let ev = d.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--filter",
        "event=oom",
        "--format",
        "{{.Actor.Attributes.name}} {{.Action}} {{.TimeNano}}",
    ]);
    let lines: Vec<(String, String, f64)> = ev
        .lines()
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (p[0].to_string(), p[1].to_string(), p[2].parse::<f64>().unwrap() / 1e9)
        })
        .collect();
    for want in [("hog", "oom"), ("hog", "die"), ("quits", "die")] {
        let hit =
            lines.iter().find(|l| l.0 == want.0 && l.1 == want.1).unwrap_or_else(|| panic!("{want:?} missing: {ev}"));
        assert!(hit.2 < down_until, "{want:?} carries the time it happened, not the restore's: {ev}");
    }
    assert!(lines.windows(2).all(|w| w[0].2 <= w[1].2), "in order: {ev}");
    d.docker_ok(&["rm", "hog", "quits"]);
}

#[test]
fn a_policy_set_by_update_reaches_the_running_monitor() {
    let dir = state_dir("update");
    let mut d = TestDaemon::start(DaemonOpts::new("restart-update").live_restore(true));
    d.busybox_image();
    let vol = format!("{}:/state", dir.0.display());
    // Started without a policy: its monitor's config says "no".
    d.run_detached(&["--name", "late", "-v", &vol, "busybox", "sh", "-c", &format!("sleep 1; {}", flaky(1))]);
    d.docker_ok(&["update", "--restart", "on-failure:2", "late"]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(dir.0.join("n")).is_ok_and(|n| n.trim() == "2")),
        "the monitor restarted it under the updated policy"
    );
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("late").running), "{}", d.inspect("late")["State"]);
    assert_eq!(d.inspect("late")["RestartCount"], 1);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "late"]), "on-failure");
    d.docker_ok(&["rm", "-f", "late"]);
    assert_converged(&d, &[]);
}
