//! `--init`: tini as PID 1 at /sbin/docker-init, forwarding signals, reaping orphans, passing the
//! exit code through; daemon.json `init`; and the host's binary out of the container's reach.

use super::*;
use berth_tests::wait_until;
use std::time::{Duration, Instant};

const HOST_INIT: &str = "/usr/bin/tini-static";

fn have_tini() -> bool {
    let ok = std::path::Path::new(HOST_INIT).is_file();
    if !ok {
        eprintln!("skipped: {HOST_INIT} missing (Debian's tini package, installed by scripts/lib.sh ensure_base)");
    }
    ok
}

/// Names and states of the container's processes (`Name` and `State` of each /proc/<pid>/status).
fn zombies(d: &TestDaemon, name: &str) -> (usize, usize) {
    let out =
        d.docker_ok(&["exec", name, "sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null | grep -E '^(Name|State):'"]);
    let lines: Vec<&str> = out.lines().collect();
    let mut usleeps = 0;
    let mut zombies = 0;
    for pair in lines.chunks(2) {
        let (n, s) = (pair[0], pair.get(1).copied().unwrap_or(""));
        if s.contains("Z (zombie)") {
            zombies += 1;
        } else if n.ends_with("usleep") {
            usleeps += 1;
        }
    }
    (usleeps, zombies)
}

#[test]
fn init_is_pid_1_and_passes_the_exit_code() {
    if !have_tini() {
        return;
    }
    let d = daemon("sec-init");
    let cmdline = run(&d, &["--init", "busybox", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"]);
    assert_eq!(cmdline.trim(), "/sbin/docker-init -- sh -c tr '\\0' ' ' </proc/1/cmdline");
    let o = d.docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(created(&d, &["--init"])["HostConfig"]["Init"], true);
    // Without --init the command is PID 1.
    assert_eq!(run(&d, &["busybox", "cat", "/proc/1/comm"]), "cat");
}

#[test]
fn init_reaps_orphans_and_forwards_stop() {
    if !have_tini() {
        return;
    }
    let d = daemon("sec-initreap");
    // An orphan: the inner shell starts usleep in the background and exits, so usleep is
    // re-parented to PID 1. Without an init PID 1 is `sleep`, which never reaps it.
    let script = "sh -c 'usleep 300000 &'; exec sleep 1000";
    d.run_detached(&["--name", "with", "--init", "busybox", "sh", "-c", script]);
    d.run_detached(&["--name", "without", "busybox", "sh", "-c", script]);
    for name in ["with", "without"] {
        assert!(wait_until(Duration::from_secs(20), || zombies(&d, name).0 == 0), "{name}: usleep never ended");
    }
    assert_eq!(zombies(&d, "with").1, 0, "the init left a zombie");
    assert!(zombies(&d, "without").1 >= 1, "the probe is broken: no zombie without an init either");

    // SIGTERM reaches `sleep` through the init (as PID 1 without a handler it would be
    // ignored and the stop would wait its whole timeout): quick, and 128+15 passed through.
    let t = Instant::now();
    d.docker_ok(&["stop", "-t", "30", "with"]);
    assert!(t.elapsed() < Duration::from_secs(15), "stop took {:?}", t.elapsed());
    assert_eq!(d.inspect("with")["State"]["ExitCode"], 143);
    // A command that ignores SIGTERM is killed after the timeout, as under Docker.
    d.run_detached(&[
        "--name",
        "stubborn",
        "--init",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 1; done",
    ]);
    d.docker_ok(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(d.inspect("stubborn")["State"]["ExitCode"], 137);
    d.docker_ok(&["rm", "-f", "with", "without", "stubborn"]);
}

#[test]
fn daemon_init_default_and_the_host_binary_out_of_reach() {
    if !have_tini() {
        return;
    }
    let d = daemon_with(DaemonOpts::new("sec-initcfg").config(r#"{"init": true}"#));
    assert_eq!(run(&d, &["busybox", "cat", "/proc/1/comm"]), "docker-init", "daemon.json init: true");
    assert_eq!(run(&d, &["--init=false", "busybox", "cat", "/proc/1/comm"]), "cat");
    // No init where the container is not PID 1's namespace owner (Docker's rule).
    assert_ne!(run(&d, &["--pid", "host", "busybox", "cat", "/proc/1/comm"]), "docker-init");

    let before = std::fs::read(HOST_INIT).unwrap();
    // CVE-2019-5736's move on the init: open PID 1's binary for writing, even with CAP_SYS_ADMIN
    // after remounting it read-write.
    // (Each open in a subshell: a failed `exec` redirection ends a non-interactive shell.)
    let attack = "(exec 3<>/proc/1/exe && echo OPENED-EXE); (exec 4<>/sbin/docker-init && echo OPENED-INIT); \
                  mount -o remount,rw,bind /sbin/docker-init && echo REMOUNTED; (exec 5<>/sbin/docker-init && echo OPENED-RW); true";
    let o = d.docker(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", attack]);
    let out = berth_tests::output_text(&o);
    assert!(!out.contains("OPENED"), "a writable handle on the init: {out}");
    assert_eq!(std::fs::read(HOST_INIT).unwrap(), before, "the host's init changed");
    // The container's init is its own copy, never the host's file.
    d.run_detached(&["--name", "probe", "busybox", "sleep", "1000"]);
    let id = d.inspect("probe")["Id"].as_str().unwrap().to_string();
    let spec: Value =
        serde_json::from_slice(&std::fs::read(d.exec_root.join("shims").join(&id).join("config.json")).unwrap())
            .unwrap();
    let m =
        spec["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sbin/docker-init").cloned().unwrap();
    let src = m["source"].as_str().unwrap();
    assert_ne!(std::fs::canonicalize(src).unwrap(), std::fs::canonicalize(HOST_INIT).unwrap(), "{m}");
    assert!(src.starts_with(d.data_root.to_str().unwrap()), "{m}");
    d.docker_ok(&["rm", "-f", "probe"]);
}
