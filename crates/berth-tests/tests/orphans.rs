//! Orphans (issue 5): a container whose monitor is gone but whose process lives is shown running
//! but orphaned, with the reason; it is never killed automatically; it can be adopted (a new
//! monitor, logs from then on), stopped, removed or forgotten. A container whose process and
//! monitor both vanished while the daemon was down gets "exit unknown", never a made-up 255.

use berth_tests::converge::assert_converged;
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

/// Ignores SIGPIPE: with its monitor gone its output pipe has no reader until one adopts it.
const TALKER: &str = "trap '' PIPE; trap 'exit 4' TERM; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done";

fn monitor_pid(d: &TestDaemon, name: &str) -> i32 {
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]);
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.exec_root.join("shims").join(&id).join("monitor.json")).unwrap(),
    )
    .unwrap();
    rec["shim_pid"].as_i64().unwrap() as i32
}

fn kill9(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
}

fn berth(d: &TestDaemon, args: &[&str]) -> std::process::Output {
    std::process::Command::new(berth_tests::berth_bin())
        .args(["-H", &format!("unix://{}", d.socket.display())])
        .args(args)
        .output()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn monitor_killed_leaves_an_orphan_that_can_be_adopted() {
    let mut d = TestDaemon::start(DaemonOpts::new("orphan-adopt").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "talker", "busybox", "sh", "-c", TALKER]);
    let pid = d.container_pid("talker");
    let (code, err) = {
        let o = berth(&d, &["container", "adopt", "talker"]);
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert_ne!(code, Some(0));
    assert!(err.contains("not orphaned"), "{err}");

    kill9(monitor_pid(&d, "talker"));
    let reason = format!("monitor exited; container pid {pid} still alive");
    assert!(
        wait_until(Duration::from_secs(10), || d.inspect("talker")["State"]["Berth"]["Reason"] == reason.as_str()),
        "{}",
        d.inspect("talker")["State"]
    );
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains(&format!("(orphaned: {reason})")), "{ps}");
    // `--until 0s` is whole seconds, as in Docker: let this second pass first.
    std::thread::sleep(Duration::from_millis(1100));
    let events = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=orphaned",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(events, "talker");
    assert!(alive(pid), "never killed on doubt");

    let o = berth(&d, &["container", "adopt", "talker"]);
    assert!(o.status.success(), "adopt: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("adopted container"));
    assert_eq!(d.state("talker").status, "running");
    assert_eq!(d.container_pid("talker"), pid, "the same process, untouched");
    // Logs resume under the new monitor.
    let before = d.docker_ok(&["logs", "talker"]).lines().count();
    assert!(
        wait_until(Duration::from_secs(5), || d.docker_ok(&["logs", "talker"]).lines().count() > before + 3),
        "logs resume"
    );
    d.docker_ok(&["exec", "talker", "true"]);
    // Survives a daemon crash like any other.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("talker").status == "running"));
    d.docker_ok(&["stop", "talker"]);
    let st = d.inspect("talker")["State"].clone();
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], -1, "unknown, not made up: {st}");
    assert!(st["Berth"]["Reason"].as_str().unwrap().contains("exit status unknown"), "{st}");
    d.docker_ok(&["rm", "talker"]);
    assert_converged(&d, &[]);
}

#[test]
fn orphans_can_be_stopped_and_removed_through_their_verified_pid() {
    let mut d = TestDaemon::start(DaemonOpts::new("orphan-stop").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "o1", "busybox", "sh", "-c", TALKER]);
    d.run_detached(&["--name", "o2", "busybox", "sh", "-c", TALKER]);
    for n in ["o1", "o2"] {
        kill9(monitor_pid(&d, n));
    }
    assert!(wait_until(Duration::from_secs(10), || {
        ["o1", "o2"].iter().all(|n| d.inspect(n)["State"]["Berth"]["Status"] == "orphaned")
    }));
    let pid1 = d.container_pid("o1");
    d.docker_ok(&["stop", "-t", "2", "o1"]);
    assert!(!alive(pid1));
    assert_eq!(d.state("o1").status, "exited");
    assert_ne!(d.state("o1").exit_code, 255);
    d.docker_ok(&["rm", "-f", "o2"]);
    assert_eq!(d.docker(&["inspect", "o2"]).status.code(), Some(1));
    d.docker_ok(&["rm", "o1"]);
    assert_converged(&d, &[]);
}

#[test]
fn container_gone_with_its_monitor_during_the_outage_has_an_unknown_exit() {
    let mut d = TestDaemon::start(DaemonOpts::new("orphan-unknown").live_restore(true));
    d.busybox_image();
    d.run_detached(&["--name", "gone", "busybox", "sleep", "1000"]);
    // The same with --rm (a reboot does this to every container): removed as dockerd does.
    d.run_detached(&["--name", "gone-rm", "--rm", "busybox", "sleep", "1000"]);
    let rm_id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "gone-rm"]);
    let (pid, mon) = (d.container_pid("gone"), monitor_pid(&d, "gone"));
    let (rm_pid, rm_mon) = (d.container_pid("gone-rm"), monitor_pid(&d, "gone-rm"));
    let since = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1).to_string();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    for p in [mon, pid, rm_mon, rm_pid] {
        kill9(p);
    }
    assert!(wait_until(Duration::from_secs(5), || !alive(pid) && !alive(rm_pid)));
    d.restart();
    assert!(
        wait_until(Duration::from_secs(5), || d.state("gone").status == "exited"),
        "{}",
        d.inspect("gone")["State"]
    );
    assert!(
        wait_until(Duration::from_secs(5), || d.docker(&["inspect", "gone-rm"]).status.code() == Some(1)),
        "--rm container kept"
    );
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let events = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={rm_id}"),
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.lines().any(|l| l == "destroy"), "{events}");
    let st = d.inspect("gone")["State"].clone();
    assert_eq!(st["ExitCode"], -1, "{st}");
    assert!(st["Error"].as_str().unwrap().contains("exit status unknown"), "{st}");
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (-1)"), "{ps}");
    d.docker_ok(&["rm", "gone"]);
    assert_converged(&d, &[]);
}
