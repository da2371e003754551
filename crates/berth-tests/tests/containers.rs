//! Container lifecycle through the real docker CLI, checked against Docker's documented behaviour:
//! run/create/start, ps and its filters, inspect, logs, stop/kill/rm/wait/restart, run options and
//! the errors clients rely on.

use berth_tests::{identity, parse_rfc3339, wait_until, DaemonOpts, TestDaemon};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn daemon(name: &str) -> TestDaemon {
    let mut d = TestDaemon::start(DaemonOpts::new(name));
    d.busybox_image();
    d
}

fn names(d: &TestDaemon, args: &[&str]) -> BTreeSet<String> {
    let mut a = vec!["ps", "--format", "{{.Names}}"];
    a.extend_from_slice(args);
    d.docker_ok(&a).lines().map(str::to_string).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn run_prints_output_and_propagates_exit_codes() {
    let d = daemon("ctr-run");
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi");
    assert!(d.ps(true).is_empty(), "--rm must remove the container: {:?}", d.ps(true));

    let o = d.docker(&["run", "--name", "three", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "docker run exit code: {}", berth_tests::output_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "out");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"), "stderr must be attached separately");
    assert_eq!(d.state("three").exit_code, 3);

    // Command not found / not executable: Docker's 127 and 126.
    assert_eq!(d.docker(&["run", "--rm", "busybox", "/nonexistent"]).status.code(), Some(127));
    assert_eq!(d.docker(&["run", "--rm", "busybox", "/etc/passwd"]).status.code(), Some(126));
    // Daemon-side error (no such image): 125.
    assert_eq!(d.docker(&["run", "--rm", "--pull", "never", "nosuchimage:1", "true"]).status.code(), Some(125));

    // The environment Docker gives every container.
    let id_run = d.docker_ok(&["run", "--name", "hh", "busybox", "hostname"]);
    let full = d.inspect("hh")["Id"].as_str().unwrap().to_string();
    assert_eq!(id_run, full[..12], "hostname must be the 12-char short id");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "echo $PATH"]),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]), "1", "the command is pid 1");
}

#[test]
fn exec_runs_in_the_container_with_its_user_and_env() {
    let d = daemon("ctr-exec");
    d.run_detached(&["--name", "ee", "-e", "K=V", "-u", "nobody", "-w", "/tmp", "busybox", "sleep", "1000"]);
    assert_eq!(d.docker_ok(&["exec", "ee", "sh", "-c", "id -u; pwd; echo $K"]), "65534\n/tmp\nV");
    assert_eq!(d.docker_ok(&["exec", "-u", "0", "ee", "id", "-u"]), "0");
    assert_eq!(d.docker_ok(&["exec", "ee", "hostname"]).len(), 12, "hostname is the short id");
    let o = d.docker(&["exec", "ee", "sh", "-c", "exit 6"]);
    assert_eq!(o.status.code(), Some(6), "exec exit code");
    // The exec'd process is in the container's pid namespace: pid 1 is the container's command.
    assert_eq!(d.docker_ok(&["exec", "ee", "cat", "/proc/1/cmdline"]).replace('\0', " ").trim(), "sleep 1000");
}

#[test]
fn create_start_ps_filters_and_inspect() {
    let d = daemon("ctr-ps");
    let id1 = d.docker_ok(&["create", "--name", "c1", "-l", "tier=web", "busybox", "sleep", "1000"]);
    assert_eq!(id1.len(), 64, "create prints the full id: {id1}");
    assert_eq!(d.state("c1").status, "created");
    assert_eq!(names(&d, &["-a", "--filter", "status=created"]), set(&["c1"]));
    assert!(names(&d, &[]).is_empty(), "a created container is not running");
    assert_eq!(d.docker_ok(&["start", "c1"]), "c1");
    d.run_detached(&["--name", "c2", "-l", "tier=db", "busybox", "sleep", "1000"]);
    d.docker_ok(&["run", "--name", "c3", "-l", "tier=web", "busybox", "true"]);

    assert_eq!(names(&d, &[]), set(&["c1", "c2"]));
    assert_eq!(names(&d, &["-a"]), set(&["c1", "c2", "c3"]));
    assert_eq!(names(&d, &["-a", "--filter", "label=tier=web"]), set(&["c1", "c3"]));
    assert_eq!(names(&d, &["-a", "--filter", "label=tier"]), set(&["c1", "c2", "c3"]));
    assert_eq!(names(&d, &["-a", "--filter", "status=exited"]), set(&["c3"]));
    assert_eq!(names(&d, &["-a", "--filter", "status=running"]), set(&["c1", "c2"]));
    assert_eq!(names(&d, &["-a", "--filter", "name=c2"]), set(&["c2"]));
    assert_eq!(names(&d, &["-a", "--filter", &format!("id={}", &id1[..12])]), set(&["c1"]));
    assert_eq!(d.docker_ok(&["ps", "-q", "--no-trunc", "--filter", "name=c1"]), id1);
    assert_eq!(d.docker_ok(&["ps", "-q", "--filter", "name=c1"]), id1[..12]);

    let v = d.inspect("c1");
    assert_eq!(v["Id"], id1.as_str());
    assert_eq!(v["Name"], "/c1");
    assert_eq!(v["Path"], "sleep");
    assert_eq!(v["Args"], serde_json::json!(["1000"]));
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(v["Config"]["Image"], "busybox");
    assert_eq!(v["Config"]["Labels"]["tier"], "web");
    assert!(v["Image"].as_str().unwrap_or("").starts_with("sha256:"), "Image: {}", v["Image"]);
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert!(parse_rfc3339(v["Created"].as_str().unwrap_or("")).is_some(), "Created: {}", v["Created"]);
    assert!(parse_rfc3339(v["State"]["StartedAt"].as_str().unwrap_or("")).is_some());
    // The id prefix works wherever a name does.
    assert_eq!(d.inspect(&id1[..8])["Name"], "/c1");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Running}} {{.Config.Labels.tier}}", "c1"]), "true web");
}

#[test]
fn logs_tail_timestamps_and_since() {
    let d = daemon("ctr-logs");
    d.docker_ok(&[
        "run",
        "--name",
        "ll",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.3; echo err1 >&2",
    ]);
    let o = d.docker(&["logs", "ll"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err1\n");
    let o = d.docker(&["logs", "--tail", "2", "ll"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "line5\n", "tail counts both streams");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err1\n");
    assert_eq!(d.docker_ok(&["logs", "--tail", "0", "ll"]), "");

    let stamped = d.docker_ok(&["logs", "-t", "ll"]);
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 5, "{stamped}");
    for (i, l) in lines.iter().enumerate() {
        let (ts, text) = l.split_once(' ').unwrap_or_else(|| panic!("no timestamp in {l:?}"));
        assert!(parse_rfc3339(ts).is_some(), "bad timestamp {ts:?}");
        assert_eq!(text, format!("line{}", i + 1));
    }

    d.docker_ok(&["run", "--name", "ss", "busybox", "sh", "-c", "echo early; sleep 2; echo late"]);
    let stamped = d.docker_ok(&["logs", "-t", "ss"]);
    let early = parse_rfc3339(stamped.lines().next().unwrap().split(' ').next().unwrap()).unwrap();
    let since = (early.floor() as i64 + 1).to_string();
    assert_eq!(d.docker_ok(&["logs", "--since", &since, "ss"]), "late");
    assert_eq!(d.docker_ok(&["logs", "--until", &since, "ss"]), "early");
}

#[test]
fn stop_kill_restart_wait_rm() {
    let d = daemon("ctr-life");
    d.run_detached(&["--name", "ss", "busybox", "sleep", "1000"]);
    let p1 = identity(d.container_pid("ss")).unwrap();
    let t0 = Instant::now();
    assert_eq!(d.docker_ok(&["stop", "-t", "1", "ss"]), "ss");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "stop -t 1 took {took:?}");
    let st = d.state("ss");
    assert_eq!((st.status.as_str(), st.exit_code, st.running), ("exited", 137, false));
    assert!(!p1.is_alive());
    assert!(parse_rfc3339(&st.finished_at).is_some());

    d.docker_ok(&["start", "ss"]);
    let started = d.state("ss");
    assert!(started.running && started.pid != p1.pid);
    d.docker_ok(&["restart", "-t", "1", "ss"]);
    let restarted = d.state("ss");
    assert!(restarted.running, "{restarted:?}");
    assert_ne!(restarted.pid, started.pid, "restart runs a new process");
    assert_ne!(restarted.started_at, started.started_at);

    // kill -s delivers the signal; the trap decides the exit code.
    d.run_detached(&["--name", "kk", "busybox", "sh", "-c", "trap 'exit 9' USR1; while :; do sleep 1; done"]);
    std::thread::sleep(Duration::from_millis(500));
    d.docker_ok(&["kill", "-s", "USR1", "kk"]);
    assert_eq!(d.docker_ok(&["wait", "kk"]), "9");
    // --stop-signal is what `docker stop` sends.
    d.run_detached(&[
        "--name",
        "sg",
        "--stop-signal",
        "SIGUSR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 11' USR1; while :; do sleep 1; done",
    ]);
    assert_eq!(d.inspect("sg")["Config"]["StopSignal"], "SIGUSR1");
    std::thread::sleep(Duration::from_millis(500));
    d.docker_ok(&["stop", "-t", "10", "sg"]);
    assert_eq!(d.state("sg").exit_code, 11);
    // Plain kill is SIGKILL.
    d.run_detached(&["--name", "k2", "busybox", "sleep", "1000"]);
    d.docker_ok(&["kill", "k2"]);
    assert_eq!(d.docker_ok(&["wait", "k2"]), "137");
    // wait blocks until the exit.
    d.run_detached(&["--name", "ww", "busybox", "sh", "-c", "sleep 1; exit 4"]);
    assert_eq!(d.docker_ok(&["wait", "ww"]), "4");

    // rm refuses a running container; rm -f kills it.
    let pid = identity(d.container_pid("ss")).unwrap();
    let (code, err) = d.docker_err(&["rm", "ss"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("running"), "rm of a running container: {err}");
    assert_eq!(d.docker_ok(&["rm", "-f", "ss"]), "ss");
    assert!(wait_until(Duration::from_secs(5), || !pid.is_alive()), "rm -f left the process running");
    assert!(!d.docker(&["container", "inspect", "ss"]).status.success());
    d.docker_ok(&["rm", "kk", "sg", "k2", "ww"]);
    assert!(d.ps(true).is_empty());
}

#[test]
fn run_options_env_workdir_user_entrypoint_labels() {
    let d = daemon("ctr-opts");
    let r = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        d.docker_ok(&a)
    };
    assert_eq!(r(&["-e", "FOO=bar", "-e", "SPACED=a b", "busybox", "sh", "-c", "echo \"$FOO|$SPACED\""]), "bar|a b");
    assert_eq!(r(&["-w", "/tmp", "busybox", "pwd"]), "/tmp");
    assert_eq!(r(&["-w", "/made/by/docker", "busybox", "pwd"]), "/made/by/docker", "workdir is created");
    assert_eq!(r(&["-u", "nobody", "busybox", "sh", "-c", "id -u; id -un"]), "65534\nnobody");
    assert_eq!(r(&["-u", "1234:5678", "busybox", "sh", "-c", "id -u; id -g"]), "1234\n5678");
    assert_eq!(r(&["--entrypoint", "echo", "busybox", "hello", "world"]), "hello world");
    assert_eq!(r(&["--entrypoint", "/bin/sh", "busybox", "-c", "echo via-sh"]), "via-sh");
    d.run_detached(&[
        "--name", "lab", "-l", "a=b", "-l", "empty=", "-e", "K=V", "-w", "/tmp", "-u", "nobody", "busybox", "sleep",
        "1000",
    ]);
    let v = d.inspect("lab");
    assert_eq!(v["Config"]["Labels"]["a"], "b");
    assert_eq!(v["Config"]["Labels"]["empty"], "");
    assert!(v["Config"]["Env"].as_array().unwrap().iter().any(|e| e == "K=V"), "Env: {}", v["Config"]["Env"]);
    assert_eq!(v["Config"]["WorkingDir"], "/tmp");
    assert_eq!(v["Config"]["User"], "nobody");
}

#[test]
fn errors_use_dockers_status_codes_and_messages() {
    let d = daemon("ctr-errors");
    let (code, err) = d.docker_err(&["container", "inspect", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("No such container: nope"), "{err}");
    let r = d.api_get("/containers/nope/json");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].as_str().unwrap_or("").contains("No such container: nope"), "{}", r.text());

    let id = d.run_detached(&["--name", "xx", "busybox", "sleep", "1000"]);
    let (code, err) = d.docker_err(&["run", "-d", "--name", "xx", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("Conflict. The container name \"/xx\" is already in use"), "{err}");
    assert!(err.contains(&id), "the message names the holder: {err}");
    let r = d.api_post("/containers/create?name=xx", r#"{"Image":"busybox","Cmd":["true"]}"#);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("Conflict. The container name \"/xx\" is already in use"));

    let r = d.api_post("/containers/create", "{not json");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.header("Content-Type").unwrap_or("").starts_with("application/json"), "{:?}", r.headers);
    assert!(!r.json()["message"].as_str().unwrap_or("").is_empty(), "{}", r.text());
    let r = d.api_post("/containers/create", r#"{"Image":"nosuchimage:1"}"#);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap_or("").contains("No such image"), "{}", r.text());

    let r = d.api_get("/_ping");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    assert!(r.header("Api-Version").is_some(), "/_ping must announce Api-Version: {:?}", r.headers);
    let v = d.api_get("/version").json();
    assert_eq!(v["Os"], "linux");
    assert!(v["ApiVersion"].as_str().is_some_and(|s| s.starts_with("1.")), "{v}");
    // Versioned paths as clients send them.
    assert_eq!(d.api_get("/v1.41/containers/json").status, 200);
    d.docker_ok(&["rm", "-f", "xx"]);
}

/// Fifteen starts, each right after the previous run's exit: all run and all output is kept.
/// The previous run's monitor may still be running `runtime delete` when the exit is reported,
/// and the start waits for it to be gone. The race is too narrow to lose here, so the wait is
/// proven with a previous monitor that lingers: its record points at a live process of the test.
#[test]
fn start_at_once_after_each_exit() {
    let d = daemon("ctr-again");
    d.docker_ok(&["create", "--name", "again", "busybox", "sh", "-c", "echo run"]);
    for i in 0..15 {
        let out = d.docker(&["start", "-a", "again"]);
        assert!(out.status.success(), "start #{i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(d.docker_ok(&["logs", "again"]).lines().count(), 15);
    assert_eq!(d.inspect("again")["State"]["ExitCode"], 0);

    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "again"]);
    let record = d.exec_root.join("shims").join(&id).join("monitor.json");
    let mut rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let mut lingering = std::process::Command::new("sleep").arg("1.5").spawn().unwrap();
    let ident = identity(lingering.id() as i32).unwrap();
    rec["shim_pid"] = ident.pid.into();
    rec["shim_start_time"] = ident.start_time.into();
    std::fs::write(&record, rec.to_string()).unwrap();
    let t0 = Instant::now();
    let reaper = std::thread::spawn(move || lingering.wait());
    d.docker_ok(&["start", "-a", "again"]);
    let waited = t0.elapsed();
    reaper.join().unwrap().unwrap();
    assert!(waited >= Duration::from_millis(1200), "the start did not wait for the previous monitor: {waited:?}");
    assert_eq!(d.docker_ok(&["logs", "again"]).lines().count(), 16);
    d.docker_ok(&["rm", "again"]);
}

/// `--rm` containers' root filesystems skip the sync of the whole disk when they are unmounted;
/// the others keep it.
#[test]
fn only_auto_removed_containers_get_a_volatile_rootfs() {
    let d = daemon("ctr-volatile");
    let root_opts = |out: String| -> String {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no / in {out}"))
    };
    let eph = root_opts(d.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/self/mountinfo"]));
    assert!(eph.contains("volatile"), "{eph}");
    let kept = root_opts(d.docker_ok(&["run", "--name", "kept", "busybox", "cat", "/proc/self/mountinfo"]));
    assert!(!kept.contains("volatile"), "{kept}");
    // Created with --rm, copied into (a mount and an unmount), then started: mounted again.
    d.docker_ok(&["create", "--name", "twice", "--rm", "busybox", "cat", "/hello"]);
    let src = std::env::temp_dir().join(format!("berth-volatile-{}", std::process::id()));
    std::fs::write(&src, "hello\n").unwrap();
    d.docker_ok(&["cp", src.to_str().unwrap(), "twice:/hello"]);
    let _ = std::fs::remove_file(&src);
    assert_eq!(d.docker_ok(&["start", "-a", "twice"]), "hello");
    assert!(wait_until(Duration::from_secs(5), || !d.docker(&["inspect", "twice"]).status.success()), "removed");
    d.docker_ok(&["rm", "kept"]);
}
