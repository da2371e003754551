//! `HostConfig` (Go's `container.HostConfig` with `Resources` embedded), the container update
//! body (`Resources` + `RestartPolicy`), and their small parts (log config, port bindings,
//! ulimits, devices, device requests). Mounts are in `mount.rs`.

use super::Mount;
use crate::serde_util::{nullable, str_slice};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `HostConfig`. Go embeds `Resources`, so its fields sit beside these in the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `"/host:/ctr[:opts]"` or `"volume:/ctr"`.
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "nullable")]
    pub container_id_file: String,
    #[serde(deserialize_with = "nullable")]
    pub log_config: LogConfig,
    /// "default", "bridge", "host", "none", `container:<id>`, or a network name.
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
    pub port_bindings: Option<PortMap>,
    #[serde(deserialize_with = "nullable")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "nullable")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "nullable")]
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    /// `[height, width]`.
    pub console_size: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// A `StrSlice` in Go: a lone string is accepted.
    #[serde(deserialize_with = "str_slice")]
    pub cap_add: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub ipc_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub oom_score_adj: i64,
    #[serde(deserialize_with = "nullable")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub privileged: bool,
    #[serde(deserialize_with = "nullable")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "nullable")]
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", deserialize_with = "nullable")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub userns_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub shm_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub runtime: String,
    #[serde(deserialize_with = "nullable")]
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    /// Always sent, as Go does (`null` when the defaults apply).
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// API 1.40 only (the full capability set, replacing the default one); later clients send
    /// `CapAdd`/`CapDrop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// Resource limits (Go's `container.Resources`), also the body of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    #[serde(deserialize_with = "nullable")]
    pub cpu_shares: i64,
    /// Bytes.
    #[serde(deserialize_with = "nullable")]
    pub memory: i64,
    /// CPU quota in units of 1e-9 CPUs (`--cpus 0.5` = 500000000).
    #[serde(deserialize_with = "nullable")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "nullable")]
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(deserialize_with = "nullable")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_runtime: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--gpus` and CDI requests.
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<i64>,
    /// Deprecated; Docker ignores it on cgroup v2.
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub memory_reservation: i64,
    /// Memory + swap; -1 is unlimited swap.
    #[serde(deserialize_with = "nullable")]
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    /// 0 or -1: unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(deserialize_with = "nullable")]
    pub cpu_count: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", deserialize_with = "nullable")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "nullable")]
    pub io_maximum_bandwidth: u64,
}

/// `RestartPolicy`: Name is "", "no", "always", "unless-stopped" or "on-failure".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub maximum_retry_count: i64,
}

/// `LogConfig`: Type "" means the daemon's default driver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "Type", deserialize_with = "nullable")]
    pub type_: String,
    #[serde(rename = "Config", deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// `{"HostIp": "", "HostPort": "8080"}`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    #[serde(deserialize_with = "nullable")]
    pub host_ip: String,
    #[serde(deserialize_with = "nullable")]
    pub host_port: String,
}

/// `{"80/tcp": [PortBinding, …]}`; in `NetworkSettings.Ports` an exposed but unpublished port
/// maps to `null`.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub soft: i64,
    #[serde(deserialize_with = "nullable")]
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    #[serde(deserialize_with = "nullable")]
    pub path_on_host: String,
    #[serde(deserialize_with = "nullable")]
    pub path_in_container: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub weight: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub rate: u64,
}

/// `DeviceRequests` entry (`--gpus all` is `{"Driver": "", "Count": -1, "Capabilities":
/// [["gpu"]]}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRequest {
    #[serde(rename = "Driver", deserialize_with = "nullable")]
    pub driver: String,
    /// -1 for all devices.
    #[serde(rename = "Count", deserialize_with = "nullable")]
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    /// An OR-list of AND-lists: `[["gpu", "nvidia", "compute"]]`.
    #[serde(rename = "Capabilities")]
    pub capabilities: Option<Vec<Vec<String>>>,
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
}

/// Body of `POST /containers/{id}/update` (Go's `container.UpdateConfig`): the resources with
/// the restart policy beside them. An absent `RestartPolicy` leaves the policy as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerUpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(rename = "RestartPolicy", skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// Answer of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateResponse {
    /// Docker sends `null` when there are none.
    pub warnings: Option<Vec<String>>,
}
