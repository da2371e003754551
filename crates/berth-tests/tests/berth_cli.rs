//! Berth's own CLI drives the same verbs as docker, with docker's output and exit codes.

use berth_tests::{busybox_tar_path, DaemonOpts, TestDaemon};
use std::time::Duration;

#[test]
fn berth_cli_does_the_container_verbs() {
    let mut d = TestDaemon::start(DaemonOpts::new("cli-verbs").live_restore(true));
    let tar = busybox_tar_path();
    let id = d.berth_ok(&["import", tar.to_str().unwrap(), "bb:1", "-c", "CMD [\"sh\"]"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(d.berth_ok(&["images"]).lines().any(|l| l.starts_with("bb ") && l.contains(" 1 ")));
    d.berth_ok(&["tag", "bb:1", "bb:2"]);
    assert_eq!(d.berth_ok(&["run", "--rm", "bb:1", "echo", "hi"]), "hi");
    let o = d.berth(&["run", "--rm", "bb:1", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "foreground run exits with the container's code");
    let o = d.berth(&["run", "--rm", "bb:1", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(127));
    let cid = d.berth_ok(&["run", "-d", "--name", "svc", "-l", "role=web", "bb:1", "sh", "-c", "echo up; sleep 1000"]);
    assert_eq!(cid.len(), 64);
    assert!(d.berth_ok(&["ps"]).contains("svc"));
    assert_eq!(d.berth_ok(&["ps", "-q", "--filter", "label=role=web"]), &cid[..12]);
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "svc"]), "running /svc");
    assert_eq!(d.berth_ok(&["exec", "svc", "echo", "inside"]), "inside");
    assert!(
        berth_tests::wait_until(Duration::from_secs(5), || d.berth_ok(&["logs", "svc"]) == "up"),
        "logs show the output"
    );
    // Through a daemon kill -9, the CLI sees the same container.
    let pid = d.container_pid("svc");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Pid}}", "svc"]), pid.to_string());
    assert_eq!(d.berth_ok(&["stop", "-t", "1", "svc"]), "svc");
    assert_eq!(d.berth_ok(&["wait", "svc"]), "137");
    assert_eq!(d.berth_ok(&["rm", "svc"]), "svc");
    let o = d.berth(&["inspect", "svc"]);
    assert_eq!(o.status.code(), Some(1));
    let o = d.berth(&["rm", "nope"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such container: nope"));
    assert!(d.berth_ok(&["rmi", "bb:2"]).contains("Untagged: bb:2"));
}
