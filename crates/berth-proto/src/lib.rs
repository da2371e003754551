//! The contract between `berthd` and `berth-shim`.
//!
//! * [`ShimConfig`] — what the daemon asks a new monitor to run (a JSON file the shim reads once).
//! * [`StartReport`] — the one line the shim's launcher prints on stdout before it detaches.
//! * [`Request`]/[`Response`] — the control protocol on the shim's socket: newline-delimited JSON,
//!   one request at a time per connection, opened by a [`Request::Hello`] handshake that fixes the
//!   protocol version both ends speak and the capabilities the shim offers.
//! * [`MonitorRecord`], [`ExitRecord`] — files the shim writes (write-temp + fsync + rename) so the
//!   daemon can find and judge it after its own restart, whatever it was doing when it died.
#![deny(unsafe_code)]

pub mod config;
pub mod crashpoint;
pub mod dns;
pub mod fsutil;
pub mod idmap;
pub mod records;
pub mod wire;

pub use config::*;
pub use dns::{DnsNames, DnsSpec};
pub use records::*;
pub use wire::*;

/// Protocol versions this build speaks. A daemon restores any monitor whose version lies in
/// `[MIN_PROTOCOL, PROTOCOL]`; a monitor answers with the highest version both ends speak.
pub const PROTOCOL: u32 = 1;
pub const MIN_PROTOCOL: u32 = 1;

/// Who is asking for its protocol range and version stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Daemon,
    Monitor,
}

fn parse_range(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The protocol range `(min, max)` this side speaks: `[MIN_PROTOCOL, PROTOCOL]`, or for a monitor
/// built with `BERTH_BUILD_PROTOCOL="min-max"` in its build environment, that (upgrade tests
/// build an older or newer monitor this way). Debug builds also read
/// `BERTH_TEST_DAEMON_PROTOCOL` / `BERTH_TEST_MONITOR_PROTOCOL` at run time.
pub fn protocol_range(side: Side) -> (u32, u32) {
    #[cfg(debug_assertions)]
    {
        let var = match side {
            Side::Daemon => "BERTH_TEST_DAEMON_PROTOCOL",
            Side::Monitor => "BERTH_TEST_MONITOR_PROTOCOL",
        };
        if let Some(r) = std::env::var(var).ok().as_deref().and_then(parse_range) {
            return r;
        }
    }
    match (side, option_env!("BERTH_BUILD_PROTOCOL").and_then(parse_range)) {
        (Side::Monitor, Some(r)) => r,
        _ => (MIN_PROTOCOL, PROTOCOL),
    }
}

/// The version stamp a monitor reports: its crate version, or `BERTH_BUILD_VERSION` from its
/// build environment (`BERTH_TEST_MONITOR_VERSION` at run time in debug builds).
pub fn monitor_version() -> String {
    #[cfg(debug_assertions)]
    if let Ok(v) = std::env::var("BERTH_TEST_MONITOR_VERSION") {
        return v;
    }
    option_env!("BERTH_BUILD_VERSION").unwrap_or(env!("CARGO_PKG_VERSION")).to_string()
}

/// Capabilities a v1 monitor offers; later minor features are announced here, never assumed.
pub mod caps {
    pub const KILL: &str = "kill";
    pub const WAIT: &str = "wait";
    pub const STATE: &str = "state";
    pub const EXEC: &str = "exec";
    pub const ATTACH: &str = "attach";
    pub const RESIZE: &str = "resize";
    pub const LOG_ROTATE: &str = "log-rotate";
    pub const RESTART_POLICY: &str = "restart-policy";
    pub const HEALTH: &str = "health";
    /// Serves the embedded DNS of `ShimConfig::dns` (a monitor without it ignores the field, and
    /// the container keeps the resolv.conf the daemon wrote).
    pub const DNS: &str = "dns";
}

/// File names inside a monitor's state directory (`<exec-root>/shims/<id>/`).
pub mod paths {
    pub const SOCKET: &str = "shim.sock";
    pub const MONITOR_RECORD: &str = "monitor.json";
    pub const CONFIG: &str = "shim.json";
    pub const INIT_PID: &str = "init.pid";
    /// The exit record lives in the container's directory in the data-root (persistent), named:
    pub const EXIT_RECORD: &str = "exit.json";
    /// Per-exec directory under the state directory: `execs/<exec id>/{output.log,exit.json}`.
    pub const EXECS: &str = "execs";
    pub const EXEC_OUTPUT: &str = "output.log";
    /// In the container's directory: one [`crate::RestartRecord`] per line for every restart a
    /// monitor did on its own while no daemon was there; the daemon replays and removes them.
    pub const RESTARTS: &str = "restarts.jsonl";
    /// In the container's directory while a monitor hands over to the next incarnation's.
    pub const RESTARTING: &str = "restarting";
    /// In the container's directory: the restart policy `docker update` set after the monitor was
    /// started (JSON `Option<RestartSpec>`, null for `no`). It overrides the monitor's config
    /// until the daemon starts the container again with a config that carries it.
    pub const RESTART_POLICY: &str = "restart-policy.json";
    /// In the container's directory: the [`crate::HealthRecord`] its monitor last wrote.
    pub const HEALTH: &str = "health.json";
    /// Under the state directory: the running probe's exec directory.
    pub const HEALTH_PROBE: &str = "health";
    /// In the container's directory: the [`crate::DnsNames`] the daemon keeps for its embedded DNS.
    pub const DNS_NAMES: &str = "dns.json";
}
