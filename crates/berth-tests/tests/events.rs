//! `docker events` (issue 3): the actions Docker emits, `--since`/`--until` over history (also
//! across a daemon restart), filters by type, event, container and label, `--format`, and a live
//! stream.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::io::{BufRead, BufReader};
use std::time::Duration;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Events of the past, up to the last whole second (as `--until 0s` means in Docker).
fn past(d: &TestDaemon, since: u64, extra: &[&str]) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1100));
    let since = since.to_string();
    let mut args = vec!["events", "--since", since.as_str(), "--until", "0s"];
    args.extend_from_slice(extra);
    d.docker_ok(&args).lines().map(String::from).collect()
}

#[test]
fn history_filters_and_format() {
    let mut d = TestDaemon::start(DaemonOpts::new("events-history").live_restore(true));
    d.busybox_image();
    let t0 = now();
    d.docker_ok(&["run", "-d", "--name", "ev1", "-l", "team=blue", "busybox", "sleep", "1000"]);
    d.docker_ok(&["exec", "ev1", "true"]);
    d.docker_ok(&["kill", "-s", "USR1", "ev1"]);
    d.docker_ok(&["stop", "-t", "1", "ev1"]);
    d.docker_ok(&["rm", "ev1"]);
    let out = d.docker(&["run", "--name", "ev2", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    let fmt = ["--format", "{{.Type}}|{{.Action}}|{{.Actor.Attributes.name}}|{{index .Actor.Attributes \"exitCode\"}}"];
    let all = past(&d, t0, &[&["--filter", "type=container"][..], &fmt[..]].concat());
    let actions: Vec<&str> =
        all.iter().filter(|l| l.split('|').nth(2) == Some("ev1")).map(|l| l.split('|').nth(1).unwrap()).collect();
    for want in ["create", "start", "exec_create:", "exec_start:", "exec_die", "kill", "die", "stop", "destroy"] {
        assert!(actions.iter().any(|a| a.starts_with(want)), "{want} missing from {all:#?}");
    }
    let order: Vec<usize> =
        ["create", "start", "die", "destroy"].iter().map(|w| actions.iter().position(|a| a == w).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order: {actions:?}");
    assert!(all.iter().any(|l| l == "container|die|ev2|4"), "die carries exitCode: {all:#?}");
    // Filters: event, container, label, type.
    let dies = past(&d, t0, &[&["--filter", "event=die"][..], &fmt[..]].concat());
    assert!(dies.iter().all(|l| l.contains("|die|")) && dies.len() == 2, "{dies:#?}");
    let name_of = |l: &String| l.split('|').nth(2).unwrap_or("").to_string();
    let only2 = past(&d, t0, &[&["--filter", "container=ev2"][..], &fmt[..]].concat());
    assert!(!only2.is_empty() && only2.iter().all(|l| name_of(l) == "ev2"), "{only2:#?}");
    let blue = past(&d, t0, &[&["--filter", "label=team=blue"][..], &fmt[..]].concat());
    assert!(!blue.is_empty() && blue.iter().all(|l| name_of(l) == "ev1"), "{blue:#?}");
    let images = past(&d, 0, &["--filter", "type=image", "--format", "{{.Type}} {{.Action}}"]);
    assert!(images.iter().any(|l| l == "image import"), "{images:#?}");
    // --until before anything happened: nothing.
    assert!(past(&d, t0 - 100, &["--until", &(t0 - 50).to_string()]).is_empty());
    // The history survives a daemon crash, and a reload is an event.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    d.hup();
    let after = past(&d, t0, &[&["--filter", "container=ev2"][..], &fmt[..]].concat());
    assert_eq!(after, only2, "same history after the restart");
    assert!(wait_until(Duration::from_secs(3), || past(
        &d,
        t0,
        &["--filter", "type=daemon", "--format", "{{.Action}}"]
    )
    .iter()
    .any(|l| l == "reload")));
    d.docker_ok(&["rm", "ev2"]);
}

#[test]
fn live_stream_delivers_new_events() {
    let mut d = TestDaemon::start(DaemonOpts::new("events-live"));
    d.busybox_image();
    let mut child = d
        .docker_cmd(&["events", "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.docker_ok(&["run", "--rm", "--name", "live1", "busybox", "true"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = vec![];
    while seen.len() < 4 {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, ["create live1", "start live1", "die live1", "destroy live1"]);
}
