use super::*;

fn health(retries: u32, start_period: Duration) -> (Health, PathBuf) {
    let dir = std::env::temp_dir().join(format!("berth-health-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = HealthSpec {
        process: dir.join("p.json"),
        interval_ns: 1_000_000_000,
        timeout_ns: 1_000_000_000,
        start_period_ns: start_period.as_nanos() as u64,
        start_interval_ns: 200_000_000,
        retries,
    };
    let path = dir.join(paths::HEALTH);
    let record = HealthRecord { status: "starting".into(), ..Default::default() };
    let h = Health { spec, path, record, started: Instant::now(), next: Some(Instant::now()), probe: None, held: None };
    (h, dir)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs one probe that ends with `code`; returns whether the status changed.
fn probe(h: &mut Health, code: i64) -> bool {
    h.next = Some(Instant::now());
    assert!(h.take_due(Instant::now()), "a probe is due");
    assert!(!h.take_due(Instant::now()), "one probe at a time");
    h.finish(code, None)
}

#[test]
fn a_pass_makes_it_healthy_and_is_written_at_once() {
    let (mut h, dir) = health(3, Duration::ZERO);
    h.take_due(Instant::now());
    h.capture(b"ok\n");
    assert!(h.finish(0, None));
    assert_eq!(h.record.status, "healthy");
    assert_eq!((h.record.seq, h.record.transitions.len()), (1, 1));
    let on_disk: HealthRecord = fsutil::read_json(&dir.join(paths::HEALTH)).unwrap().unwrap();
    assert_eq!(on_disk, h.record);
    assert_eq!(on_disk.log[0].output, "ok\n");
    assert_eq!(on_disk.log[0].exit_code, 0);
    assert!(on_disk.log[0].start <= on_disk.log[0].end);
    assert!(!probe(&mut h, 0), "healthy again is no change");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn retries_failures_make_it_unhealthy_and_a_pass_clears_the_streak() {
    let (mut h, dir) = health(3, Duration::ZERO);
    assert!(!probe(&mut h, 1));
    assert!(!probe(&mut h, 2));
    assert_eq!((h.record.status.as_str(), h.record.failing_streak), ("starting", 2));
    assert!(probe(&mut h, 1));
    assert_eq!((h.record.status.as_str(), h.record.failing_streak), ("unhealthy", 3));
    assert!(probe(&mut h, 0));
    assert_eq!((h.record.status.as_str(), h.record.failing_streak), ("healthy", 0));
    let statuses: Vec<&str> = h.record.transitions.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["unhealthy", "healthy"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failures_in_the_start_period_do_not_count_until_the_first_pass() {
    let (mut h, dir) = health(1, Duration::from_secs(3600));
    assert!(!probe(&mut h, 1));
    assert_eq!((h.record.status.as_str(), h.record.failing_streak), ("starting", 0));
    assert!(probe(&mut h, 0));
    // Healthy once: a failure counts even inside the start period.
    assert!(probe(&mut h, 1));
    assert_eq!((h.record.status.as_str(), h.record.failing_streak), ("unhealthy", 1));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_probe_past_its_timeout_is_a_failure_with_dockers_words() {
    let (mut h, dir) = health(1, Duration::ZERO);
    let t0 = Instant::now();
    assert!(h.take_due(t0));
    assert!(!h.take_timeout(t0), "not yet");
    assert_eq!(h.deadline(), Some(t0 + Duration::from_secs(1)));
    assert!(h.take_timeout(t0 + Duration::from_secs(1)));
    assert!(!h.take_timeout(t0 + Duration::from_secs(2)), "killed once");
    assert!(h.finish(137, None));
    let last = h.record.log.last().unwrap();
    assert_eq!((last.exit_code, last.output.as_str()), (-1, "Health check exceeded timeout (1s)"));
    assert_eq!(h.record.status, "unhealthy");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_probe_that_cannot_run_fails_with_the_runtimes_message() {
    let (mut h, dir) = health(1, Duration::ZERO);
    h.take_due(Instant::now());
    h.finish(127, Some("exec: \"nope\": executable file not found in $PATH".into()));
    let last = h.record.log.last().unwrap();
    assert_eq!(last.exit_code, -1);
    assert!(last.output.contains("not found"), "{}", last.output);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn output_log_and_transitions_are_bounded() {
    let (mut h, dir) = health(1, Duration::ZERO);
    h.take_due(Instant::now());
    h.capture(&[b'a'; 3000]);
    h.capture(&[b'b'; 3000]);
    h.finish(0, None);
    let out = &h.record.log[0].output;
    assert_eq!(out.len(), MAX_OUTPUT + 3);
    assert!(out.ends_with("b..."));
    for i in 0..40 {
        probe(&mut h, i % 2);
    }
    assert_eq!(h.record.log.len(), MAX_LOG);
    assert_eq!(h.record.transitions.len(), MAX_TRANSITIONS);
    // One for every probe judged, status change or not: 41 probes, 40 of them changes.
    assert_eq!(h.record.seq, 41);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_start_interval_applies_while_starting_within_the_start_period() {
    let (mut h, dir) = health(3, Duration::from_secs(3600));
    assert_eq!(h.interval(), Duration::from_millis(200));
    h.record.status = "healthy".into();
    assert_eq!(h.interval(), Duration::from_secs(1));
    let (h2, dir2) = health(3, Duration::from_millis(300));
    assert!(h2.interval() <= Duration::from_millis(300), "never past the end of the start period");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h2.interval(), Duration::from_secs(1));
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn durations_read_as_go_prints_them() {
    let s = Duration::from_secs;
    assert_eq!(go_duration(s(30)), "30s");
    assert_eq!(go_duration(s(60)), "1m0s");
    assert_eq!(go_duration(s(90)), "1m30s");
    assert_eq!(go_duration(s(3600)), "1h0m0s");
    assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
    assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
}

#[test]
fn a_probe_killed_from_outside_is_held_then_judged_or_dropped() {
    let (mut h, dir) = health(1, Duration::ZERO);
    h.take_due(Instant::now());
    assert!(h.hold_if_killed(137));
    assert!(h.release_held(Instant::now()).is_none(), "held for a moment");
    assert!(h.deadline().is_some());
    assert_eq!(h.release_held(Instant::now() + HOLD), Some(true), "the container outlived it: a failure");
    assert_eq!(h.record.status, "unhealthy");
    // Killed by its own timeout: judged at once.
    h.next = Some(Instant::now());
    let t0 = Instant::now();
    h.take_due(t0);
    h.take_timeout(t0 + Duration::from_secs(1));
    assert!(!h.hold_if_killed(137));
    // The container stopping meanwhile drops it.
    h.finish(137, None);
    h.next = Some(Instant::now());
    h.take_due(Instant::now());
    assert!(h.hold_if_killed(137));
    h.cancel();
    assert!(h.release_held(Instant::now() + HOLD).is_none());
    std::fs::remove_dir_all(dir).unwrap();
}
