//! Health checks (issue 15, point 3): run by the container's monitor, so they go on while the
//! daemon is down; the daemon, back, shows what they found and replays the status changes it
//! missed as `health_status` events with their true times, each once.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn health(d: &TestDaemon, name: &str) -> serde_json::Value {
    d.inspect(name)["State"]["Health"].clone()
}

fn status_is(d: &TestDaemon, name: &str, want: &str) -> bool {
    health(d, name)["Status"] == want
}

/// `health_status` events of the container between `since` and now: (action, unix seconds).
fn health_events(d: &TestDaemon, id: &str, since: u64) -> Vec<(String, f64)> {
    events_of(d, id, since, Some("health_status"))
        .into_iter()
        .map(|v| (action(&v), v["timeNano"].as_f64().unwrap() / 1e9))
        .collect()
}

fn action(v: &serde_json::Value) -> String {
    v["Action"].as_str().unwrap().to_string()
}

/// The container's events between `since` and now, as JSON, optionally of one event name.
fn events_of(d: &TestDaemon, id: &str, since: u64, event: Option<&str>) -> Vec<serde_json::Value> {
    let until = (unix_now() as u64 + 1).to_string();
    let out = d.docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        &format!("container={id}"),
        "--format",
        "{{json .}}",
    ]);
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| event.is_none_or(|e| action(v).starts_with(e)))
        .collect()
}

/// Command lines of the processes in the PID namespace of `pid`.
fn in_pid_namespace_of(pid: i32) -> Vec<String> {
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).trim_end_matches('\0').replace('\0', " "))
        .collect()
}

#[test]
fn checks_run_through_a_daemon_outage_and_their_changes_are_replayed_once() {
    let mut d = TestDaemon::start(DaemonOpts::new("health-outage").live_restore(true));
    d.busybox_image();
    let t0 = unix_now() as u64;
    let id = d.run_detached(&[
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let v = d.inspect("hc");
    assert_eq!(v["Config"]["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "test -f /tmp/ok && echo fine"]));
    assert!(wait_until(Duration::from_secs(10), || status_is(&d, "hc", "unhealthy")), "{}", health(&d, "hc"));
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("hc Up") && ps.contains("(unhealthy)"), "{ps}");
    assert_eq!(d.docker_ok(&["ps", "-q", "--no-trunc", "--filter", "health=unhealthy"]), id);
    assert_eq!(d.docker_ok(&["ps", "-q", "--filter", "health=healthy"]), "");
    let (_, err) = d.docker_err(&["ps", "--filter", "health=fine"]);
    assert!(err.contains("Unrecognised filter value for health: fine"), "{err}");

    let pid = d.container_pid("hc");
    let record = d.data_root.join("containers").join(&id).join("health.json");
    let t_kill = unix_now();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    // Make the check pass while no daemon runs: only the monitor can notice.
    std::fs::write(format!("/proc/{pid}/root/tmp/ok"), b"").unwrap();
    let healthy_on_disk = || {
        let on_disk = std::fs::read(&record).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        on_disk.is_some_and(|v| v["status"] == "healthy")
    };
    assert!(wait_until(Duration::from_secs(10), healthy_on_disk), "{:?}", std::fs::read_to_string(&record));
    std::thread::sleep(Duration::from_millis(1000));
    let t_restart = unix_now();
    d.restart();

    let h = health(&d, "hc");
    assert_eq!(h["Status"], "healthy", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log.len(), 5, "the last five probes are kept: {h}");
    let end_of = |r: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(r["End"].as_str().unwrap()).unwrap().timestamp_nanos_opt().unwrap() as f64
            / 1e9
    };
    // Probes made while the daemon was away are in the log it shows (probes went on since).
    let in_outage = |r: &&serde_json::Value| end_of(r) > t_kill && end_of(r) < t_restart;
    assert!(log.iter().filter(in_outage).count() >= 2, "{h}");
    assert!(log.iter().filter(in_outage).any(|r| r["ExitCode"] == 0 && r["Output"] == "fine\n"), "{h}");
    assert_eq!(log.last().unwrap()["Output"], "fine\n", "{h}");

    let count = |evs: &[(String, f64)], what: &str| evs.iter().filter(|(a, _)| a == what).count();
    let evs = health_events(&d, &id, t0);
    assert_eq!(count(&evs, "health_status: unhealthy"), 1, "{evs:?}");
    assert_eq!(count(&evs, "health_status: healthy"), 1, "{evs:?}");
    let healthy_at = evs.iter().find(|(a, _)| a == "health_status: healthy").unwrap().1;
    assert!(
        healthy_at > t_kill && healthy_at < t_restart,
        "true time {healthy_at} in the outage [{t_kill}, {t_restart}]"
    );

    // A second restart replays nothing twice.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    let evs = health_events(&d, &id, t0);
    assert_eq!((count(&evs, "health_status: unhealthy"), count(&evs, "health_status: healthy")), (1, 1), "{evs:?}");
    // Each probe the record keeps is an exec to `docker events`, as in dockerd, reported once
    // however many restarts replayed it.
    let all = events_of(&d, &id, t0, None);
    let log = health(&d, "hc")["Log"].as_array().unwrap().clone();
    for probe in &log[..log.len() - 1] {
        let start = chrono::DateTime::parse_from_rfc3339(probe["Start"].as_str().unwrap()).unwrap();
        let at = start.timestamp_nanos_opt().unwrap();
        let creates: Vec<_> = all
            .iter()
            .filter(|v| action(v).starts_with("exec_create: /bin/sh -c") && v["timeNano"].as_i64() == Some(at))
            .collect();
        assert_eq!(creates.len(), 1, "probe at {start}: {all:?}");
        let exec_id = creates[0]["Actor"]["Attributes"]["execID"].as_str().unwrap();
        let dies: Vec<_> =
            all.iter().filter(|v| action(v) == "exec_die" && v["Actor"]["Attributes"]["execID"] == exec_id).collect();
        assert_eq!(dies.len(), 1, "{all:?}");
        assert_eq!(dies[0]["Actor"]["Attributes"]["exitCode"], probe["ExitCode"].to_string(), "{all:?}");
    }

    // And the checks go on under the new daemon, its events live.
    std::fs::remove_file(format!("/proc/{pid}/root/tmp/ok")).unwrap();
    assert!(wait_until(Duration::from_secs(10), || status_is(&d, "hc", "unhealthy")), "{}", health(&d, "hc"));
    assert!(
        wait_until(Duration::from_secs(5), || count(&health_events(&d, &id, t0), "health_status: unhealthy") == 2),
        "{:?}",
        health_events(&d, &id, t0)
    );
    assert_eq!(d.container_pid("hc"), pid, "the container itself never noticed");
}

#[test]
fn the_images_healthcheck_timeouts_and_refusals() {
    let d = TestDaemon::start(DaemonOpts::new("health-image"));
    let tar = berth_tests::busybox_tar_path();
    d.import_image(
        &tar,
        "hcimg",
        &["HEALTHCHECK --interval=200ms --retries=1 CMD [\"true\"]", "CMD [\"sleep\", \"1000\"]"],
    );
    let img = d.inspect("hcimg");
    assert_eq!(img["Config"]["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]), "{}", img["Config"]);

    d.run_detached(&["--name", "from-image", "hcimg"]);
    assert_eq!(d.inspect("from-image")["Config"]["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]));
    assert!(
        wait_until(Duration::from_secs(10), || status_is(&d, "from-image", "healthy")),
        "{}",
        health(&d, "from-image")
    );

    // --no-healthcheck: none runs, and inspect shows no State.Health.
    d.run_detached(&["--name", "off", "--no-healthcheck", "hcimg"]);
    std::thread::sleep(Duration::from_millis(600));
    assert!(health(&d, "off").is_null(), "{}", health(&d, "off"));
    assert_eq!(d.docker_ok(&["ps", "-q", "--filter", "name=off", "--filter", "health=none"]).lines().count(), 1);

    // A probe past its timeout is killed and fails with Docker's words.
    d.run_detached(&[
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "hcimg",
    ]);
    assert!(wait_until(Duration::from_secs(10), || status_is(&d, "slow", "unhealthy")), "{}", health(&d, "slow"));
    let last = health(&d, "slow")["Log"][0].clone();
    assert_eq!(last["ExitCode"], -1, "{last}");
    assert_eq!(last["Output"], "Health check exceeded timeout (300ms)", "{last}");
    // Killed at its timeout: the probe ended well before its `sleep 5` would have (the monitor
    // judges a probe when it exits), and never more than one runs.
    let secs = |t: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap().timestamp_nanos_opt().unwrap() as f64 / 1e9
    };
    let took = secs(&last["End"]) - secs(&last["Start"]);
    assert!(took < 2.0, "the timed-out probe ran {took:.2} s: it was not killed");
    let probes = in_pid_namespace_of(d.container_pid("slow")).iter().filter(|c| c.as_str() == "sleep 5").count();
    assert!(probes <= 1, "timed-out probes are killed, not piled up: {probes}");

    // A stopped container keeps its last health; a start begins again from `starting`.
    d.docker_ok(&["stop", "-t", "0", "from-image"]);
    assert_eq!(health(&d, "from-image")["Status"], "healthy");
    d.docker_ok(&["start", "from-image"]);
    let h = health(&d, "from-image");
    assert!(h["Status"] == "starting" || h["Status"] == "healthy", "{h}");
    assert!(h["Log"].as_array().unwrap().len() >= 2, "the log of the earlier run is kept: {h}");

    // Paused, a container is not probed (a probe would only hang in the frozen cgroup).
    assert!(wait_until(Duration::from_secs(5), || status_is(&d, "from-image", "healthy")));
    d.docker_ok(&["pause", "from-image"]);
    std::thread::sleep(Duration::from_millis(300));
    let last_end = || health(&d, "from-image")["Log"].as_array().unwrap().last().unwrap()["End"].clone();
    let before = last_end();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(last_end(), before, "no probe while paused");
    d.docker_ok(&["unpause", "from-image"]);
    assert!(wait_until(Duration::from_secs(5), || last_end() != before), "probes again after unpause");

    // Docker's limits, as 400s naming the field (the CLI checks some itself: the API is asked).
    let refused = |hc: &str, want: &str| {
        let r = d.api_post("/containers/create", &format!(r#"{{"Image": "hcimg", "Healthcheck": {hc}}}"#));
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains(want), "{}", r.text());
    };
    refused(r#"{"Test": ["CMD", "true"], "Interval": 500000}"#, "Interval in Healthcheck cannot be less than 1ms");
    refused(r#"{"Test": ["CMD", "true"], "StartPeriod": -1}"#, "StartPeriod in Healthcheck cannot be less than 1ms");
    refused(r#"{"Test": ["CMD", "true"], "Retries": -1}"#, "Retries in Healthcheck cannot be negative");
    let r = d.api_post("/containers/create", r#"{"Image": "hcimg", "Healthcheck": {"Test": ["HTTP", "/"]}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("NONE, CMD or CMD-SHELL"), "{}", r.text());
}
