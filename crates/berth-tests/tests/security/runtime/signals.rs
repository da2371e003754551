//! Issue 13, point 6: container processes start with nothing ignored and nothing blocked
//! (Docker's state), whoever starts them: run, exec, a restart by the monitor.

use super::{daemon, status_field, Dir};
use berth_tests::{wait_until, DaemonOpts};
use std::time::Duration;

fn assert_clean(status: &str, what: &str) {
    for f in ["SigIgn", "SigBlk"] {
        assert_eq!(status_field(status, f), "0000000000000000", "{what}: {f} must be empty (as under Docker)");
    }
}

#[test]
fn run_exec_and_monitor_restart_start_with_clean_signals() {
    let dir = Dir::new("signals");
    let mut d = daemon(DaemonOpts::new("rt-signals").live_restore(true));
    let st = d.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/self/status"]);
    assert_clean(&st, "docker run");
    // A pipeline whose reader leaves early ends by SIGPIPE; with SIGPIPE ignored, `yes` spins.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "timeout 10 sh -c 'yes STR | head -n 1000 | wc -l'; echo rc=$?",
    ]);
    assert_eq!(out, "1000\nrc=0", "yes | head must end at once");
    d.run_detached(&["--name", "sig", "busybox", "sleep", "1000"]);
    assert_clean(&d.docker_ok(&["exec", "sig", "cat", "/proc/self/status"]), "docker exec");
    let out = d.docker_ok(&["exec", "sig", "sh", "-c", "yes | head -n 3 | wc -l"]);
    assert_eq!(out, "3");
    assert_clean(&d.docker_ok(&["exec", "sig", "cat", "/proc/1/status"]), "the init");
    d.docker_ok(&["rm", "-f", "sig"]);
    // With the daemon gone, the monitor restarts the container itself.
    let vol = format!("{}:/out", dir.0.display());
    d.run_detached(&[
        "--name",
        "again",
        "--restart",
        "always",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "n=$(ls /out | wc -l); cat /proc/self/status > /out/st.$n; sleep 1; [ $n -ge 1 ] && exec sleep 1000; exit 1",
    ]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    let second = dir.0.join("st.1");
    assert!(
        wait_until(Duration::from_secs(15), || std::fs::metadata(&second).is_ok_and(|m| m.len() > 0)),
        "the monitor restarted the container"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_clean(&std::fs::read_to_string(dir.0.join("st.0")).unwrap(), "first run");
    assert_clean(&std::fs::read_to_string(&second).unwrap(), "restart by the monitor");
    d.restart();
    d.docker_ok(&["rm", "-f", "again"]);
}
