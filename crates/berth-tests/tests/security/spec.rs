//! The spec Berth writes, probed from inside containers through the docker CLI: capabilities,
//! `--privileged`, devices, masked paths, namespaces and ids, limits, `--init`, and the refusal of
//! every API field Berth does not implement.

use crate::{daemon_with, run, status_field};
use berth_tests::{DaemonOpts, HttpResponse, TestDaemon};
use serde_json::Value;

mod caps;
mod devices;
mod init;
mod limits;
mod namespaces;
mod refusals;

/// A daemon with the busybox image.
fn daemon(name: &str) -> TestDaemon {
    daemon_with(DaemonOpts::new(name))
}

/// The host's namespace of `kind` (`pid`, `ipc`, …), as `readlink /proc/self/ns/<kind>` prints it.
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().display().to_string()
}

/// `POST /containers/create` with a raw body.
fn create_raw(d: &TestDaemon, body: &Value) -> HttpResponse {
    d.api_post("/containers/create", &body.to_string())
}

/// How many containers the daemon has, stopped ones included.
fn containers(d: &TestDaemon) -> usize {
    d.api_get("/containers/json?all=1").json().as_array().map(Vec::len).unwrap_or(0)
}

/// Asserts a 400 whose message contains every one of `words`, and that nothing was created.
fn assert_refused(d: &TestDaemon, body: &Value, words: &[&str]) {
    let before = containers(d);
    let r = create_raw(d, body);
    let msg = r.text();
    assert_eq!(r.status, 400, "{body} gave {}: {msg}", r.status);
    for w in words {
        assert!(msg.contains(w), "{body}: the message {msg:?} does not name {w:?}");
    }
    assert_eq!(containers(d), before, "{body} left a container behind");
}

/// Creates a container with `args`, returns its inspect, removes it.
fn created(d: &TestDaemon, args: &[&str]) -> Value {
    let mut a = vec!["create"];
    a.extend_from_slice(args);
    a.extend(["busybox", "true"]);
    let id = d.docker_ok(&a);
    let v = d.inspect(&id);
    d.docker_ok(&["rm", &id]);
    v
}
