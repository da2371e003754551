//! The container record, `container.json` in the container's directory: what it was created
//! with, the options it was created under (invariant 8) and its state. Written from these types
//! only, never from wire types, so an API change is never a storage change.

use super::config::{ContainerConfig, HostConfig};
use super::endpoint::NetEndpoint;
use super::mount::MountPoint;
use super::seccomp::SeccompRecord;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The format this build writes. A change that an older daemon could misread (not a new
/// optional field, which it ignores) raises it, and the reader keeps accepting every older one.
pub const RECORD_VERSION: u32 = 1;

fn first_version() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// Recorded running before the daemon restarted; not yet reconnected.
    Restoring,
    /// Process alive (pid + start time verified) but its monitor cannot be spoken to.
    Orphaned,
    /// A monitor is being launched. Persisted before the launch, so that a daemon killed in
    /// between finds the monitor on restart instead of leaking a container recorded `created`.
    Starting,
}

impl Status {
    /// The word Docker clients understand (`State.Status`, `status=` filters).
    pub fn docker(&self) -> &'static str {
        match self {
            Status::Created | Status::Starting => "created",
            Status::Running | Status::Restoring | Status::Orphaned => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    pub fn is_live(&self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restoring | Status::Orphaned | Status::Restarting)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CState {
    pub status: Status,
    pub pid: i32,
    #[serde(default)]
    pub pid_start_time: u64,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub oom_killed: bool,
    /// Why the container is orphaned or its exit is unknown, in words.
    #[serde(default)]
    pub reason: String,
    /// The status before `Starting`, to return to when the start fails or never happened.
    #[serde(default)]
    pub before_start: Option<Status>,
    /// Set by `stop`/`kill` from the user: restart policies do not bring it back.
    #[serde(default)]
    pub stopped_by_user: bool,
}

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl CState {
    /// The status clients are shown: a restart policy's start is still "restarting" until the
    /// new incarnation runs (as with dockerd), although it is recorded `Starting` for crash recovery.
    pub fn seen(&self) -> Status {
        if self.status == Status::Starting && self.before_start == Some(Status::Restarting) {
            Status::Restarting
        } else {
            self.status
        }
    }
}

impl Default for CState {
    fn default() -> Self {
        CState {
            status: Status::Created,
            pid: 0,
            pid_start_time: 0,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            reason: String::new(),
            before_start: None,
            stopped_by_user: false,
        }
    }
}

/// The options a container was created under (invariant 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateOptions {
    pub storage_driver: String,
    pub runtime: String,
    pub runtime_path: PathBuf,
    #[serde(default)]
    pub runtime_args: Vec<String>,
    pub shim_binary: PathBuf,
    pub shim_version: String,
    pub protocol: u32,
    pub network_mode: String,
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub cgroups_path: String,
    /// The runtime came from the daemon's default (no `--runtime`): a later default change makes
    /// it an "old option" worth naming.
    #[serde(default)]
    pub runtime_defaulted: bool,
    /// The seccomp filter chosen at create; records from before seccomp mean the builtin one.
    #[serde(default)]
    pub seccomp: SeccompRecord,
    /// `no-new-privileges`, from the option or the daemon's default at create.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The user namespace's mappings (`--userns-remap`); None: the host's user namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<berth_proto::idmap::IdMaps>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// The record's format ([`RECORD_VERSION`]); records from before the field are version 1.
    #[serde(default = "first_version")]
    pub record_version: u32,
    pub id: String,
    /// Without Docker's leading '/'.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub image_id: String,
    pub state: CState,
    #[serde(default)]
    pub restart_count: u32,
    pub options: CreateOptions,
    pub log_path: PathBuf,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// The bridge attachment (address, ports) for `bridge` containers.
    #[serde(default)]
    pub endpoint: Option<NetEndpoint>,
    /// Networks joined with `docker network connect`, as `eth1`, `eth2`… (`eth0` is `endpoint`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_endpoints: Vec<NetEndpoint>,
    /// Binds, volumes and tmpfs mounts, resolved at create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountPoint>,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// True for the `none` log driver: the output is kept nowhere.
    pub fn log_discarded(&self) -> bool {
        self.host_config.log_config.as_ref().and_then(|l| l.type_.as_deref()) == Some("none")
    }

    /// Every network attachment, the primary (`eth0`) first.
    pub fn endpoints(&self) -> impl Iterator<Item = &NetEndpoint> {
        self.endpoint.iter().chain(self.extra_endpoints.iter())
    }

    pub fn endpoint_on(&self, network: &str) -> Option<&NetEndpoint> {
        self.endpoints().find(|ep| ep.network == network)
    }
}
