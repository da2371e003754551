//! A remapped container survives a SIGKILLed daemon (live restore) and stays manageable; a
//! daemon started without the remapping sees the other state root, as Docker's.

use super::*;

#[test]
fn live_restore_keeps_a_remapped_container_manageable() {
    let remap = r#"{"userns-remap": "default"}"#;
    let mut d = daemon_with(DaemonOpts::new("userns-restore").live_restore(true).config(remap));
    let id = d.run_detached(&["busybox", "sleep", "600"]);
    let pid = d.container_pid(&id);
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    d.kill9();
    d.restart();
    assert!(
        berth_tests::wait_until(Duration::from_secs(15), || d.state(&id).status == "running"),
        "not restored: {:?}",
        d.state(&id)
    );
    assert_eq!(d.container_pid(&id), pid, "the same process");
    let out = d.docker_ok(&["exec", &id, "readlink", "/proc/self/ns/user"]);
    assert_eq!(out, ns.display().to_string(), "exec after the restore joins the user namespace");
    d.docker_ok(&["stop", "-t", "1", &id]);
    d.docker_ok(&["rm", &id]);
    assert!(!d.exec_root.join("userns").join(&id).exists(), "the pinned user namespace is released");
    // Another remapping setting is another state root (Docker's): a daemon started without it
    // does not see the remapped daemon's containers, and one started with it again does.
    let kept = d.docker_ok(&["create", "busybox", "true"]);
    d.term();
    assert!(d.wait_exit(Duration::from_secs(30)).is_some());
    d.write_config("{}");
    d.restart();
    assert!(
        !d.docker_ok(&["ps", "-aq", "--no-trunc"]).contains(&kept),
        "a plain daemon shows the remapped root's container"
    );
    d.term();
    assert!(d.wait_exit(Duration::from_secs(30)).is_some());
    d.write_config(remap);
    d.restart();
    assert!(d.docker_ok(&["ps", "-aq", "--no-trunc"]).contains(&kept));
    d.docker_ok(&["rm", &kept]);
    berth_tests::converge::assert_converged(&d, &[]);
}

/// A remapped container whose monitor was SIGKILLed is an orphan like any other: adopted, exec
/// still in its user namespace, stopped and removed, nothing left (mounts, pinned namespaces).
#[test]
fn a_remapped_orphan_is_adopted_stopped_and_removed() {
    let d = daemon_with(remapped("userns-orphan").live_restore(true));
    let id = d.run_detached(&["busybox", "sh", "-c", "trap '' PIPE; while :; do echo t; sleep 0.2; done"]);
    let pid = d.container_pid(&id);
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.exec_root.join("shims").join(&id).join("monitor.json")).unwrap(),
    )
    .unwrap();
    let shim = rec["shim_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || d.inspect(&id)["State"]["Berth"]["Status"] == "orphaned")
    );
    let o = std::process::Command::new(berth_tests::berth_bin())
        .args(["-H", &format!("unix://{}", d.socket.display()), "container", "adopt", &id])
        .output()
        .unwrap();
    assert!(o.status.success(), "adopt: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.docker_ok(&["exec", &id, "readlink", "/proc/self/ns/user"]), ns.display().to_string());
    d.docker_ok(&["stop", "-t", "1", &id]);
    d.docker_ok(&["rm", &id]);
    assert!(!d.exec_root.join("userns").join(&id).exists());
    berth_tests::converge::assert_converged(&d, &[]);
}

/// A daemon killed in a remapped container's start, after its namespaces were pinned: the
/// restart rolls the start back and releases them; the next start works.
#[test]
fn a_start_cut_short_releases_the_pinned_namespaces() {
    let mut d = daemon_with(remapped("userns-crash").live_restore(true));
    let id = d.docker_ok(&["create", "busybox", "sleep", "300"]);
    d.term();
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    d.opts.env = vec![("BERTH_CRASH_AT".into(), "start.after-prepare".into())];
    d.restart();
    assert!(!d.docker(&["start", &id]).status.success());
    assert!(d.wait_exit(Duration::from_secs(10)).is_some(), "the daemon died at the crash point");
    let pinned = d.exec_root.join("userns").join(&id);
    let mounted = |p: &Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
    };
    assert!(mounted(&pinned), "pinned before the crash point");
    d.opts.env.clear();
    d.restart();
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || !mounted(&pinned)),
        "released by the restore's roll-back"
    );
    d.docker_ok(&["start", &id]);
    assert_eq!(d.state(&id).status, "running");
    d.docker_ok(&["rm", "-f", &id]);
    assert!(!mounted(&pinned));
    berth_tests::converge::assert_converged(&d, &[]);
}

/// Without live restore a stopping daemon stops its remapped containers and releases their
/// namespaces; after the restart they start again.
#[test]
fn a_daemon_restart_without_live_restore_stops_and_restarts_cleanly() {
    let mut d = daemon_with(remapped("userns-restart"));
    let id = d.run_detached(&["busybox", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]);
    d.term();
    assert!(d.wait_exit(Duration::from_secs(30)).is_some());
    assert!(!d.exec_root.join("userns").join(&id).exists(), "released at shutdown");
    d.restart();
    assert_eq!(d.state(&id).exit_code, 3);
    d.docker_ok(&["start", &id]);
    assert_eq!(d.docker_ok(&["exec", &id, "id", "-u"]), "0");
    d.docker_ok(&["rm", "-f", &id]);
    berth_tests::converge::assert_converged(&d, &[]);
}
