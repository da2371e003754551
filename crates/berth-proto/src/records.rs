//! Records the monitor leaves on disk, read by the daemon on restore.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Written by the monitor once the container init runs (`<state_dir>/monitor.json`). With it a
/// restarted daemon finds the monitor, checks it is the same process (pid + start time), and knows
/// which protocol versions it may speak to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorRecord {
    pub container_id: String,
    pub shim_pid: i32,
    pub shim_start_time: u64,
    /// Path of the monitor binary that runs (it keeps running its own copy across upgrades).
    pub shim_binary: PathBuf,
    pub shim_version: String,
    /// Highest protocol version this monitor speaks, and the lowest.
    pub protocol: u32,
    pub min_protocol: u32,
    pub socket: PathBuf,
    pub container_pid: i32,
    pub container_start_time: u64,
    /// RFC 3339 with nanoseconds, UTC.
    pub started_at: String,
    pub runtime: String,
}

/// How a container ended. Written durably by the monitor the moment it reaps the init, before it
/// tells anyone, into `<container_dir>/exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// Docker's convention: the exit status, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// The signal that killed the init, if any.
    #[serde(default)]
    pub signal: Option<i32>,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    pub pid: i32,
    #[serde(default)]
    pub oom_killed: bool,
    /// The monitor saw the init end but could not learn how (an adopted container is not its
    /// child): `exit_code` is then -1 and means "unknown", never a real status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

/// Status of the container as its monitor sees it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InitStatus {
    Created,
    Running,
    Paused,
    Exited,
}

/// A restart a monitor did by itself (daemon away): the exit it saw, when the next incarnation
/// started, and the back-off it waited.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestartRecord {
    pub exit: ExitRecord,
    /// The next incarnation: its init's pid and start time, and when it started.
    pub pid: i32,
    pub start_time: u64,
    pub started_at: String,
    pub delay_ms: u64,
}

/// What the launcher process prints (one JSON line on stdout) before it exits and leaves the
/// detached monitor behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum StartReport {
    Started { shim_pid: i32, container_pid: i32, container_start_time: u64, started_at: String },
    Failed { message: String },
}

/// The health of a container as its monitor last judged it (`<container_dir>/health.json`,
/// written after every probe): Docker's `State.Health`, plus the status changes the daemon turns
/// into `health_status` events, with their true times, even for those made while it was away.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthRecord {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    /// The last probes, oldest first (at most 5, as Docker keeps).
    pub log: Vec<HealthResult>,
    /// The last status changes, oldest first (bounded).
    pub transitions: Vec<HealthTransition>,
    /// Probes this monitor has judged (older monitors: status changes it made): a `WatchHealth`
    /// with `after` below it is answered.
    #[serde(default)]
    pub seq: u64,
}

/// One probe: Docker's `HealthcheckResult`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthResult {
    /// RFC 3339 with nanoseconds, UTC.
    pub start: String,
    pub end: String,
    /// 0 healthy, anything else a failure; -1 when the probe could not run or timed out.
    pub exit_code: i64,
    pub output: String,
}

/// The status became `status` at `time` (RFC 3339, the end of the probe that decided it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthTransition {
    pub status: String,
    pub time: String,
}
