//! The CLI sees the same world before and after `kill -9` of the daemon and a restart with live
//! restore on (issue 3): ps, inspect, logs, port, network and image listings are identical, and
//! exec and logs -f keep working on the restored containers.

use berth_tests::converge::assert_converged;
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

/// Everything a user would look at, minus what moves with the clock ("Up 3 seconds").
fn world(d: &TestDaemon) -> Vec<(String, String)> {
    let mut out = vec![];
    let q = |args: &[&str]| d.docker_ok(args);
    out.push((
        "ps".into(),
        q(&[
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Ports}} {{.Names}} {{.Labels}} {{.Networks}}",
        ]),
    ));
    for name in ["web", "quiet", "done", "fresh", "member"] {
        let mut v = d.inspect(name);
        // Berth's own restore bookkeeping may say "restoring" for a moment; the rest must match.
        v["State"]["Berth"]["Status"] = serde_json::Value::Null;
        out.push((format!("inspect {name}"), serde_json::to_string_pretty(&v).unwrap()));
        out.push((format!("logs {name}"), q(&["logs", name])));
    }
    out.push(("port".into(), q(&["port", "web"])));
    out.push(("networks".into(), q(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])));
    out.push((
        "net inspect".into(),
        q(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}} {{end}}", "shared"]),
    ));
    out.push(("images".into(), q(&["images", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"])));
    out
}

#[test]
fn the_cli_sees_the_same_world_after_kill9_and_restart() {
    let mut d = TestDaemon::start(DaemonOpts::new("compat-restart").live_restore(true));
    d.busybox_image();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, cidr) = d.bridge.clone().unwrap();
    let o: Vec<u32> = cidr.split('/').next().unwrap().split('.').map(|x| x.parse().unwrap()).collect();
    d.docker_ok(&["network", "create", "--subnet", &format!("{}.{}.{}.0/24", o[0], o[1], (o[2] + 77) % 256), "shared"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo started; httpd -f -p 80 -h /",
    ]);
    d.docker_ok(&["run", "-d", "--name", "quiet", "-e", "A=1", "-w", "/tmp", "busybox", "sleep", "1000"]);
    let ran = d.docker(&["run", "--name", "done", "busybox", "sh", "-c", "echo bye; exit 3"]);
    assert_eq!(ran.status.code(), Some(3), "docker run returns the container's exit code");
    d.docker_ok(&["create", "--name", "fresh", "busybox", "true"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        "shared",
        "--network-alias",
        "m",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(wait_until(Duration::from_secs(5), || d.docker_ok(&["logs", "web"]).contains("started")));
    let before = world(&d);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("web").running
        && d.state("quiet").running
        && d.state("member").running));
    let after = world(&d);
    for ((what, a), (_, b)) in before.iter().zip(after.iter()) {
        assert_eq!(a, b, "`{what}` differs after the restart");
    }
    // Still managed: exec, logs -f, stop, rm.
    assert_eq!(d.docker_ok(&["exec", "quiet", "sh", "-c", "echo $A; pwd"]), "1\n/tmp");
    let mut follow = d.docker_cmd(&["logs", "-f", "web"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["stop", "-t", "1", "web"]);
    let status = follow.wait().unwrap();
    assert!(status.success(), "logs -f ends when the container stops");
    d.docker_ok(&["rm", "-f", "web", "quiet", "done", "fresh", "member"]);
    d.docker_ok(&["network", "rm", "shared"]);
    assert_converged(&d, &[]);
}
