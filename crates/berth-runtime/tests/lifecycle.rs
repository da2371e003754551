//! create → start → kill → delete through the real binary, with a real busybox container.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::wait::WaitStatus;

const T: Duration = Duration::from_secs(10);

#[test]
fn create_start_kill_delete() {
    become_subreaper();
    let c = TestContainer::new(
        "trap 'echo got-term; exit 7' TERM; echo hello-from-init; echo to-stderr >&2; \
         echo \"nofile=$(ulimit -Hn) host=$(cat /proc/sys/kernel/hostname)\"; \
         while true; do sleep 0.05; done",
    );
    // Settings this host cannot grant (no CAP_SYS_RESOURCE) must degrade, not fail the container.
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.bundle.join("config.json")).unwrap()).unwrap();
    let (_, host_hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    cfg["process"]["rlimits"][0]["hard"] = (host_hard + 1).into();
    cfg["process"]["rlimits"][0]["soft"] = 1024.into();
    cfg["process"]["oomScoreAdj"] = (-999).into();
    c.write_config(&cfg);

    let t0 = Instant::now();
    let status = c.create();
    let t_create = t0.elapsed();
    assert!(status.success(), "create failed: {}", std::fs::read_to_string(&c.stdout_path).unwrap_or_default());
    let st = c.state();
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], c.id.as_str());
    let pid = c.init_pid().expect("pid file written");
    assert_eq!(st["pid"], pid, "{st}");
    assert_eq!(st["bundle"].as_str().unwrap(), std::fs::canonicalize(&c.bundle).unwrap().to_str().unwrap());
    assert!(!std::fs::read_to_string(&c.stdout_path).unwrap().contains("hello-from-init"));

    let t1 = Instant::now();
    c.run_ok(&["start", &c.id]);
    let t_start = t1.elapsed();
    let out = c.wait_output("host=berth-test", T);
    eprintln!("create {t_create:?} + start {t_start:?} = {:?}", t_create + t_start);
    assert!(out.contains("hello-from-init"), "{out}");
    assert!(out.contains("to-stderr"), "{out}");
    // The runtime's own warnings (clamped rlimit, oom_score_adj) must not leak into the container's
    // stdio, which is the monitor's log pipe.
    assert!(!out.contains("berth-runtime"), "runtime messages in container output: {out}");
    let log = std::fs::read_to_string(c.log_path()).unwrap();
    assert!(log.lines().any(|l| l.contains(r#""level":"warning""#) && l.contains("RLIMIT_NOFILE")), "{log}");
    assert!(log.contains("oom_score_adj"), "{log}");
    assert!(out.contains(&format!("nofile={host_hard} ")), "rlimit not clamped to host hard limit: {out}");
    assert_eq!(c.state()["status"], "running");

    c.run_ok(&["kill", &c.id, "TERM"]);
    match reap(pid, T) {
        WaitStatus::Exited(_, 7) => {}
        other => panic!("unexpected exit {other:?}"),
    }
    c.wait_output("got-term", T);
    let st = c.wait_status("stopped", T);
    assert_eq!(st["pid"], 0);

    c.run_ok(&["delete", &c.id]);
    assert!(!c.root.join(&c.id).exists());
    let out = c.run(&["state", &c.id]);
    assert!(!out.status.success());
}

#[test]
fn kill_by_number_and_force_delete_running() {
    become_subreaper();
    let c = TestContainer::new("sleep 1000");
    assert!(c.create().success());
    c.run_ok(&["start", &c.id]);
    let pid = c.init_pid().unwrap();
    // SIGKILL by number: the only signal a pid-namespace init without handlers cannot ignore.
    c.run_ok(&["kill", &c.id, "9"]);
    assert!(matches!(reap(pid, T), WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)));
    c.wait_status("stopped", T);
    c.run_ok(&["delete", &c.id]);

    // A signal the created init ignores leaves it created and startable.
    let c3 = TestContainer::new("echo started-after-signal; sleep 1000");
    assert!(c3.create().success());
    c3.run_ok(&["kill", &c3.id, "SIGUSR1"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c3.state()["status"], "created");
    c3.run_ok(&["start", &c3.id]);
    c3.wait_output("started-after-signal", T);

    // delete --force of a running container kills it.
    let c2 = TestContainer::new("sleep 1000");
    assert!(c2.create().success());
    c2.run_ok(&["start", &c2.id]);
    let pid2 = c2.init_pid().unwrap();
    c2.run_ok(&["delete", "--force", &c2.id]);
    reap(pid2, T);
    assert!(!c2.root.join(&c2.id).exists());
    // Idempotent like runc: --force on a missing container succeeds, without it fails.
    c2.run_ok(&["delete", "--force", &c2.id]);
    assert!(!c2.run(&["delete", &c2.id]).status.success());
}

#[test]
fn errors_are_reported_on_stderr_and_json_log() {
    let c = TestContainer::new("true");
    let log = c.dir.path().join("runtime.log");
    let out = c
        .cmd()
        .args(["--log", log.to_str().unwrap(), "--log-format", "json", "state", "no-such-container"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
    assert!(last["time"].is_string());

    // A bad signal name is refused before touching anything.
    let out = c.run(&["kill", &c.id, "SIGNOPE"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid signal"));
}
