//! exec of extra processes into a running container, and joining an existing namespace.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

fn process_json(c: &TestContainer, name: &str, args: &[&str]) -> std::path::PathBuf {
    let p = c.dir.path().join(name);
    let v = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/bin", "FOO=bar"],
        "cwd": "/tmp",
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true
    });
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn exec_foreground_and_detached() {
    become_subreaper();
    let c = TestContainer::new("echo marker > /tmp/m; echo ready; sleep 1000");
    assert!(c.create().success());
    c.run_ok(&["start", &c.id]);
    c.wait_output("ready", T);
    let init = c.init_pid().unwrap();

    // Foreground: output is ours, the exit code is the process's, it sees the init's filesystem
    // and pid namespace.
    let p = process_json(
        &c,
        "p1.json",
        &["sh", "-c", "cat /tmp/m; echo FOO=$FOO cwd=$(pwd); ls /proc | grep -c '^[0-9]'; exit 3"],
    );
    let out = c.run(&["exec", "--process", p.to_str().unwrap(), &c.id]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("marker"), "{stdout}");
    assert!(stdout.contains("FOO=bar cwd=/tmp"), "{stdout}");
    // Only the container's processes are visible: init sleep + sh + ls (+ grep, cat subshell).
    let nprocs: usize = stdout.lines().last().unwrap().trim().parse().unwrap();
    assert!(nprocs < 10, "pid namespace not joined: {nprocs} processes visible");

    // Detached with a pid file: returns at once; the process runs in the container.
    let p2 = process_json(&c, "p2.json", &["sh", "-c", "echo detached-ran > /tmp/d; sleep 1000"]);
    let pidf = c.dir.path().join("exec.pid");
    let f = std::fs::File::create(c.dir.path().join("exec.out")).unwrap();
    let st = c
        .cmd()
        .args(["exec", "-d", "--process", p2.to_str().unwrap(), "--pid-file", pidf.to_str().unwrap(), &c.id])
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success());
    let epid: i32 = std::fs::read_to_string(&pidf).unwrap().trim().parse().unwrap();
    assert_ne!(epid, init);
    let p3 = process_json(&c, "p3.json", &["cat", "/tmp/d"]);
    let t0 = std::time::Instant::now();
    loop {
        let out = c.run(&["exec", "--process", p3.to_str().unwrap(), &c.id]);
        if String::from_utf8_lossy(&out.stdout).contains("detached-ran") {
            break;
        }
        assert!(t0.elapsed() < T, "detached exec never ran");
        std::thread::sleep(Duration::from_millis(20));
    }

    c.run_ok(&["kill", "--all", &c.id, "KILL"]);
    // The dying pid-namespace init waits until every process of its namespace is reaped, and the
    // detached exec process was reparented to us: reap it first.
    reap(epid, T);
    reap(init, T);
    c.wait_status("stopped", T);
    c.run_ok(&["delete", &c.id]);
}

#[test]
fn joins_network_namespace_by_path() {
    become_subreaper();
    // The first container owns a network namespace; the second joins it by /proc path.
    let a = TestContainer::new("echo a-ready; sleep 1000");
    assert!(a.create().success());
    let apid = a.init_pid().unwrap();
    let b = TestContainer::new("readlink /proc/self/ns/net; echo b-done; sleep 1000");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.bundle.join("config.json")).unwrap()).unwrap();
    for ns in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = format!("/proc/{apid}/ns/net").into();
        }
    }
    b.write_config(&cfg);
    assert!(b.create().success(), "{}", std::fs::read_to_string(&b.stdout_path).unwrap());
    b.run_ok(&["start", &b.id]);
    let out = b.wait_output("b-done", T);
    let want = std::fs::read_link(format!("/proc/{apid}/ns/net")).unwrap();
    assert!(out.contains(want.to_str().unwrap()), "{out} vs {want:?}");
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(want, host);
}
