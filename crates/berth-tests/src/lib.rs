//! Harness for Berth's end-to-end tests: each test gets its own daemon (own data-root, exec-root,
//! socket, pid file, config file and bridge) and talks to it with the real docker CLI, docker-py, our
//! own CLI or raw HTTP. Everything a test leaves behind (daemon, monitors, containers, mounts,
//! cgroups, directories) is removed by [`TestDaemon`]'s drop guard, on panic too.
//!
//! Nothing here ever uses the host's default `/run/berth` or `/var/lib/berth`: every path handed to a
//! binary is under the test's own base directory.
#![deny(unsafe_code)]

pub mod archive;
mod bins;
mod cleanup;
mod client;
mod cmd;
pub mod converge;
mod daemon;
mod http;
pub mod registry;
mod rootfs;

pub use bins::{berth_bin, bin_dir, cache_dir, docker_bin, workspace_bin};
pub use cleanup::is_mountpoint;
pub use client::ContainerState;
pub use cmd::{output_text, run_with_stdin, run_with_timeout, Watchdog, DEFAULT_CMD_TIMEOUT};
pub use daemon::{DaemonOpts, TestDaemon};
pub use http::{unix_http_request, HttpResponse};
pub use rootfs::{busybox_rootfs_tar, busybox_tar_path};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Polls `cond` every 50 ms until it holds or `timeout` passes; true when it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long live-restore tests keep the daemon down (`BERTH_TEST_OUTAGE_SECS`, default 10).
pub fn outage() -> Duration {
    Duration::from_secs_f64(env_f64("BERTH_TEST_OUTAGE_SECS", 10.0))
}

/// Stop timeout the stop-on-shutdown tests give their containers (`BERTH_TEST_STOP_TIMEOUT`, default 3).
pub fn stop_timeout_secs() -> u64 {
    env_f64("BERTH_TEST_STOP_TIMEOUT", 3.0) as u64
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seconds since the epoch as a float, for `--since`/`--until` and for comparing with timestamps the
/// daemon reports.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_secs_f64()
}

/// Parses an RFC 3339 timestamp (as Docker prints them) into seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// Identity (pid + start time) of a live process, for checking it survives something.
pub fn identity(pid: i32) -> Option<berth_sys::ProcessIdentity> {
    berth_sys::ProcessIdentity::of(pid)
}

#[cfg(test)]
mod selftest;

/// The cgroup directory of `pid` for `controller` (v1), or its v2 directory; true when v2.
pub fn cgroup_dir(pid: i32, controller: &str) -> (std::path::PathBuf, bool) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    let root = std::path::Path::new("/sys/fs/cgroup");
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            let rel = path.trim_start_matches('/');
            for dir in [root.join(ctrls).join(rel), root.join(controller).join(rel)] {
                if dir.is_dir() {
                    return (dir, false);
                }
            }
        }
    }
    let v2 = text.lines().find_map(|l| l.strip_prefix("0::")).expect("no cgroup v2 line either");
    let rel = v2.trim_start_matches('/');
    let unified = if root.join("unified").is_dir() { root.join("unified") } else { root.to_path_buf() };
    (unified.join(rel), true)
}
