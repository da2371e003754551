//! What the daemon hands a new monitor.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything a monitor needs to run one container and to outlive the daemon that started it.
/// The daemon writes it to `<state_dir>/shim.json`; the shim never needs the daemon again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimConfig {
    /// Full 64-hex container id.
    pub id: String,
    /// OCI bundle: holds `config.json`; its `root.path` is absolute.
    pub bundle: PathBuf,
    /// Where the monitor keeps its socket, monitor record and pid file (under the exec-root).
    pub state_dir: PathBuf,
    /// The container's persistent directory in the data-root; the exit record is written here.
    pub container_dir: PathBuf,
    pub runtime: RuntimeSpec,
    pub log: LogConfig,
    /// Allocate a pty (`docker run -t`); the monitor holds the master.
    #[serde(default)]
    pub terminal: bool,
    /// Keep the container's stdin open (`docker run -i`); fed from attach connections.
    #[serde(default)]
    pub open_stdin: bool,
    /// Close stdin after the first attach detaches (`StdinOnce`).
    #[serde(default)]
    pub stdin_once: bool,
    /// When set, the monitor runs `create` at once but waits for this file before `start`:
    /// the daemon finishes the container's network meanwhile. The file holds `ok`, or
    /// `fail: <reason>` to abort the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_gate: Option<PathBuf>,
    /// The container's restart policy, which the monitor honours itself while no daemon is
    /// waiting on it (capability `restart-policy`); with a daemon up, the daemon decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartSpec>,
    /// The daemon's pid file, which a running daemon holds locked. While it is held, an exit is
    /// the daemon's to act on even if no connection waits yet (a container that exits before the
    /// daemon's watcher connects); the monitor restarts by itself only when no daemon runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_lock: Option<PathBuf>,
    /// The container's health check, which the monitor runs itself (capability `health`), so it
    /// goes on while no daemon runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSpec>,
    /// `ConsoleSize` (rows, columns) of a terminal container: set on the pty before the start, so
    /// the process sees it from its first instruction (the runtime does not apply consoleSize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<(u16, u16)>,
    /// Docker's embedded DNS for a container on a user-defined network, which the monitor serves
    /// itself (capability `dns`), so names resolve while no daemon runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::DnsSpec>,
    /// The cgroup the monitor moves itself into before it runs anything (absolute, the same path
    /// in every hierarchy), so that neither it nor its container is left in the daemon's cgroup.
    /// None (a config from an older daemon): the monitor stays where it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_cgroup: Option<String>,
}

/// Docker's `Healthcheck` as the monitor runs it: the probe as an OCI process (the container's
/// own process settings with the check's command), and the durations with Docker's defaults
/// already applied by the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthSpec {
    /// OCI process JSON file for `runtime exec`.
    pub process: PathBuf,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub start_interval_ns: u64,
    /// Consecutive failures (after the start period) that make the container unhealthy.
    pub retries: u32,
}

/// Docker's restart policy as the monitor needs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestartSpec {
    /// `always`, `unless-stopped` or `on-failure` (`no` is not sent).
    pub name: String,
    /// `on-failure:N`; 0 = unlimited.
    #[serde(default)]
    pub max_retry: u32,
    /// The container's RestartCount when this incarnation was started by the daemon.
    #[serde(default)]
    pub count: u32,
}

/// An OCI runtime driven through the OCI runtime command-line contract.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuntimeSpec {
    /// Name as the daemon knows it (`berth`, `runc`, …).
    pub name: String,
    /// Absolute path of the runtime binary.
    pub path: PathBuf,
    /// Extra arguments placed before the subcommand (e.g. `--root <dir>`).
    #[serde(default)]
    pub args: Vec<String>,
}

impl RuntimeSpec {
    /// Arguments for one runtime subcommand: global args, then the subcommand and its own args.
    pub fn command_args(&self, sub: &str, rest: &[&str]) -> Vec<String> {
        let mut v = self.args.clone();
        v.push(sub.to_string());
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }
}

/// Docker's json-file log driver options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogConfig {
    /// `<container_dir>/<id>-json.log`; rotated files get `.1`, `.2`, … appended.
    pub path: PathBuf,
    /// Rotate when the current file reaches this many bytes; 0 = never.
    #[serde(default)]
    pub max_size: u64,
    /// How many files to keep in all, the current one included (Docker's `max-file`, ≥ 1).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}
