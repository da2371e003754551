//! `GET /version` and `GET /info`; `GET /system/df` is in `system/df.rs`.

mod df;

pub use df::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlatformName {
    pub name: String,
}

/// An entry of `Version.Components`: `{"Name": "Engine", "Version": …, "Details": {…}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// Answer of `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    #[serde(rename = "Platform")]
    pub platform: PlatformName,
    #[serde(rename = "Components", skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentVersion>>,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion", skip_serializing_if = "String::is_empty")]
    pub min_api_version: String,
    #[serde(rename = "GitCommit")]
    pub git_commit: String,
    #[serde(rename = "GoVersion")]
    pub go_version: String,
    #[serde(rename = "Os")]
    pub os: String,
    #[serde(rename = "Arch")]
    pub arch: String,
    #[serde(rename = "KernelVersion", skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    #[serde(rename = "Experimental", skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    #[serde(rename = "BuildTime", skip_serializing_if = "String::is_empty")]
    pub build_time: String,
}

/// `Runtimes` entry of info (lowercase keys, as Docker sends them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(rename = "runtimeArgs", skip_serializing_if = "Option::is_none")]
    pub runtime_args: Option<Vec<String>>,
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, String>>,
}

/// `{"ID": "…", "Expected": "…"}` (Expected is gone from 1.49 on; kept optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Expected", skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// `Plugins` of info.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    pub volume: Option<Vec<String>>,
    pub network: Option<Vec<String>>,
    pub authorization: Option<Vec<String>>,
    pub log: Option<Vec<String>>,
}

/// `Swarm` of info; Berth is never part of a swarm ("inactive").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<PeerNode>>,
    /// Swarm managers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managers: Option<i64>,
    /// The swarm's `ClusterInfo`; kept opaque, Berth has no swarm mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
}

/// A manager of the swarm: `{"NodeID": "…", "Addr": "10.0.0.1:2377"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerNode {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "Addr")]
    pub addr: String,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".into(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
            nodes: None,
            managers: None,
            cluster: None,
        }
    }
}

/// Answer of `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: i64,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: i64,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: i64,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: i64,
    #[serde(rename = "Images")]
    pub images: i64,
    /// The storage driver.
    #[serde(rename = "Driver")]
    pub driver: String,
    /// `[["Backing Filesystem", "extfs"], …]`
    #[serde(rename = "DriverStatus")]
    pub driver_status: Option<Vec<[String; 2]>>,
    #[serde(rename = "Plugins")]
    pub plugins: PluginsInfo,
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    /// Not supported on cgroup v2; Go `omitempty`.
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<bool>,
    #[serde(rename = "CpuCfsPeriod")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: i64,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: i64,
    /// RFC 3339 with nanoseconds.
    #[serde(rename = "SystemTime")]
    pub system_time: String,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    /// "cgroupfs", "systemd" or "none".
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    /// "1" or "2".
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub nevents_listener: i64,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// "linux".
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "IndexServerAddress")]
    pub index_server_address: String,
    #[serde(rename = "RegistryConfig")]
    pub registry_config: Option<RegistryServiceConfig>,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    /// Bytes.
    #[serde(rename = "MemTotal")]
    pub mem_total: i64,
    #[serde(rename = "GenericResources")]
    pub generic_resources: Option<serde_json::Value>,
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    /// Berth's own (dockerd has `--exec-root` but does not report it): where the daemon keeps
    /// its runtime state.
    #[serde(rename = "ExecRoot", skip_serializing_if = "String::is_empty")]
    pub exec_root: String,
    #[serde(rename = "HttpProxy")]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy")]
    pub https_proxy: String,
    #[serde(rename = "NoProxy")]
    pub no_proxy: String,
    /// The host name.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Labels")]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes")]
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    #[serde(rename = "Swarm")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled")]
    pub live_restore_enabled: bool,
    #[serde(rename = "Isolation")]
    pub isolation: String,
    #[serde(rename = "InitBinary")]
    pub init_binary: String,
    #[serde(rename = "ContainerdCommit")]
    pub containerd_commit: Commit,
    #[serde(rename = "RuncCommit")]
    pub runc_commit: Commit,
    #[serde(rename = "InitCommit")]
    pub init_commit: Commit,
    #[serde(rename = "SecurityOptions")]
    pub security_options: Vec<String>,
    #[serde(rename = "ProductLicense", skip_serializing_if = "Option::is_none")]
    pub product_license: Option<String>,
    #[serde(rename = "DefaultAddressPools", skip_serializing_if = "Option::is_none")]
    pub default_address_pools: Option<Vec<AddressPool>>,
    #[serde(rename = "FirewallBackend", skip_serializing_if = "Option::is_none")]
    pub firewall_backend: Option<FirewallInfo>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Vec<String>,
    /// Devices found by device drivers (CDI), API 1.50+.
    #[serde(rename = "DiscoveredDevices", skip_serializing_if = "Option::is_none")]
    pub discovered_devices: Option<Vec<DeviceInfo>>,
    /// The containerd the daemon uses; absent without containerd.
    #[serde(rename = "Containerd", skip_serializing_if = "Option::is_none")]
    pub containerd: Option<ContainerdInfo>,
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// `RegistryConfig` of info (Go's `registry.ServiceConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryServiceConfig {
    /// CIDRs: `["::1/128", "127.0.0.0/8"]`.
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Option<Vec<String>>,
    #[serde(rename = "IndexConfigs")]
    pub index_configs: Option<BTreeMap<String, IndexInfo>>,
    #[serde(rename = "Mirrors")]
    pub mirrors: Option<Vec<String>>,
}

/// An entry of `RegistryConfig.IndexConfigs`, keyed by registry host ("docker.io").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Option<Vec<String>>,
    /// False for an insecure (HTTP or unverified TLS) registry.
    pub secure: bool,
    /// True for Docker Hub.
    pub official: bool,
}

/// `Containerd` of info.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerdInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    pub namespaces: ContainerdNamespaces,
}

/// The containerd namespaces: `{"Containers": "moby", "Plugins": "plugins.moby"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerdNamespaces {
    pub containers: String,
    pub plugins: String,
}

/// A device of `DiscoveredDevices`: `{"Source": "cdi", "ID": "vendor.com/gpu=0"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceInfo {
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "ID")]
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressPool {
    pub base: String,
    pub size: i64,
}

/// `FirewallBackend` (1.49+): `{"Driver": "nftables", "Info": [["k", "v"]]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FirewallInfo {
    pub driver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<Vec<[String; 2]>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_version_names() {
        let mut i = Info { ncpu: 2, live_restore_enabled: true, os_type: "linux".into(), ..Default::default() };
        i.runtimes.insert("runc".into(), RuntimeInfo { path: "runc".into(), ..Default::default() });
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["NCPU"], 2);
        assert_eq!(v["LiveRestoreEnabled"], true);
        assert_eq!(v["OSType"], "linux");
        assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
        assert_eq!(v["Runtimes"]["runc"], serde_json::json!({"path": "runc"}));
        assert_eq!(serde_json::from_value::<Info>(v).unwrap(), i);

        let ver = Version {
            api_version: crate::API_VERSION.into(),
            min_api_version: crate::MIN_API_VERSION.into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&ver).unwrap();
        assert_eq!(v["ApiVersion"], "1.51");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(serde_json::from_value::<Version>(v).unwrap(), ver);
    }
}
