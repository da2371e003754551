//! Containment (issue 13): each module is one part of it, driven through the docker CLI and raw
//! HTTP with real attacks and probes from inside containers.

mod host;
mod runtime;
mod seccomp;
mod spec;
mod userns;

// Helpers every module uses.
use berth_tests::{DaemonOpts, TestDaemon};

pub(crate) fn daemon_with(opts: DaemonOpts) -> TestDaemon {
    let mut d = TestDaemon::start(opts);
    d.busybox_image();
    d
}

/// `docker run --rm <args>`'s output.
pub(crate) fn run(d: &TestDaemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    d.docker_ok(&a)
}

/// A field of a /proc/<pid>/status text.
pub(crate) fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}
