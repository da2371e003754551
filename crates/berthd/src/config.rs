//! Daemon configuration, Docker's way: flags with dockerd's names, the same keys in daemon.json,
//! an error naming any key given both ways or unknown, and a reload path for SIGHUP.

use clap::Parser;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod bridge;
mod containers;
pub mod logging;
pub mod tls;
pub mod userns;
pub use bridge::{address_pool_subnets, parse_cidr, AddressPool};
pub use containers::ContainerDefaults;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// unable to configure the Berth daemon with file {file}: {msg}
    #[error("unable to configure the Berth daemon with file {file}: {msg}")]
    File { file: String, msg: String },
    /// invalid flag value
    #[error("{0}")]
    Invalid(String),
}

/// Command-line flags. Every setting is optional so that "given on the command line" is known:
/// that is what the both-flag-and-file check needs.
#[derive(Debug, Clone, Parser, Default)]
#[command(name = "berthd", version, about = "Berth: a Docker-compatible engine whose containers outlive the daemon")]
pub struct Flags {
    /// Daemon configuration file
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Keep containers running while the daemon is down (Docker's live restore)
    #[arg(long = "live-restore", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub live_restore: Option<bool>,
    /// Root directory of persistent state
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Root directory of execution state (sockets, monitor records)
    #[arg(long = "exec-root", value_name = "DIR")]
    pub exec_root: Option<PathBuf>,
    /// Daemon socket(s) to listen on: unix:///path, berth+unix:///path?role=read-only&group=NAME&mode=0660
    /// (README: least-privilege sockets), or tcp://ADDR:PORT with --tlsverify
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,
    /// Group of the unix sockets (default berth, when that group exists; else root)
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    /// Path to use for the daemon PID file
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub debug: Option<bool>,
    /// Storage driver to use (overlay2, vfs)
    #[arg(short = 's', long = "storage-driver", value_name = "NAME")]
    pub storage_driver: Option<String>,
    /// Default OCI runtime for containers
    #[arg(long = "default-runtime", value_name = "NAME")]
    pub default_runtime: Option<String>,
    /// Register an additional OCI compatible runtime (name=path)
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    pub add_runtime: Vec<String>,
    /// Default shutdown timeout in seconds
    #[arg(long = "shutdown-timeout", value_name = "SECS")]
    pub shutdown_timeout: Option<u64>,
    #[command(flatten)]
    pub logging: logging::LogFlags,
    /// Set key=value labels to the daemon
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    #[command(flatten)]
    pub network: bridge::BridgeFlags,
    /// Registry reached over plain HTTP (host:port); loopback ones always are
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Preferred mirror for Docker Hub pulls (URL)
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// Layers downloaded at once per pull (default 3)
    #[arg(long = "max-concurrent-downloads", value_name = "N")]
    pub max_concurrent_downloads: Option<usize>,
    /// Parent cgroup of all containers (default /berth; relative: under the daemon's cgroup)
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    pub cgroup_parent: Option<String>,
    /// Layers uploaded at once per push (default 5)
    #[arg(long = "max-concurrent-uploads", value_name = "N")]
    pub max_concurrent_uploads: Option<usize>,
    #[command(flatten)]
    pub containers: containers::ContainerFlags,
    #[command(flatten)]
    pub tls: tls::TlsFlags,
    /// Seccomp profile of new containers: builtin, unconfined or an absolute path to a JSON profile
    #[arg(long = "seccomp-profile", value_name = "PROFILE")]
    pub seccomp_profile: Option<String>,
    /// Set no-new-privileges by default for new containers
    #[arg(long = "no-new-privileges", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub no_new_privileges: Option<bool>,
    /// User/Group setting for user namespaces: default (dockremap) or user[:group]
    #[arg(long = "userns-remap", value_name = "USER[:GROUP]")]
    pub userns_remap: Option<String>,
}

/// One runtime entry of `"runtimes"`, as Docker spells it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct RuntimeConf {
    pub path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

/// daemon.json: Docker's key names. Unknown keys are refused before this is deserialized.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct FileConfig {
    pub live_restore: Option<bool>,
    pub debug: Option<bool>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
    pub group: Option<String>,
    pub pidfile: Option<PathBuf>,
    pub storage_driver: Option<String>,
    pub default_runtime: Option<String>,
    pub runtimes: Option<BTreeMap<String, RuntimeConf>>,
    pub shutdown_timeout: Option<u64>,
    #[serde(flatten)]
    pub logging: logging::LogFile,
    pub log_level: Option<String>,
    pub labels: Option<Vec<String>>,
    #[serde(flatten)]
    pub network: bridge::BridgeFile,
    pub insecure_registries: Option<Vec<String>>,
    pub registry_mirrors: Option<Vec<String>>,
    pub max_concurrent_downloads: Option<usize>,
    pub max_concurrent_uploads: Option<usize>,
    pub cgroup_parent: Option<String>,
    #[serde(flatten)]
    pub containers: containers::ContainerFile,
    #[serde(flatten)]
    pub tls: tls::TlsFile,
    pub seccomp_profile: Option<String>,
    pub no_new_privileges: Option<bool>,
    pub userns_remap: Option<String>,
}

/// Keys accepted in daemon.json, in the order the both-ways check reports them.
const KNOWN_KEYS: &[&str] = &[
    "live-restore",
    "debug",
    "data-root",
    "exec-root",
    "hosts",
    "group",
    "pidfile",
    "storage-driver",
    "default-runtime",
    "runtimes",
    "shutdown-timeout",
    "log-level",
    "labels",
    "insecure-registries",
    "registry-mirrors",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "cgroup-parent",
    "seccomp-profile",
    "no-new-privileges",
    "userns-remap",
];

/// The configuration in force: flags over file over defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub config_file: PathBuf,
    pub live_restore: bool,
    pub debug: bool,
    /// The daemon's state root: `--data-root`, or `<data-root>/<uid>.<gid>` under
    /// `--userns-remap` (Docker's: each remapping sees its own images, containers and volumes).
    pub data_root: PathBuf,
    /// `--data-root` as given.
    pub data_root_top: PathBuf,
    pub exec_root: PathBuf,
    pub hosts: Vec<String>,
    /// `--userns-remap`, resolved at load.
    pub userns_remap: Option<userns::Remap>,
    /// The API sockets `hosts` describes, parsed (path, role, own group and mode).
    pub listeners: Vec<crate::listen::HostSpec>,
    /// Mutual TLS of the `tcp://` hosts (set exactly when `tlsverify` is).
    pub tls: Option<tls::TlsFiles>,
    /// `--group`/`"group"`; None: Docker's default (here `berth`, root when it does not exist).
    pub group: Option<String>,
    pub pidfile: PathBuf,
    pub storage_driver: String,
    pub default_runtime: String,
    pub runtimes: BTreeMap<String, RuntimeConf>,
    pub shutdown_timeout: u64,
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    pub labels: Vec<String>,
    pub bridge: String,
    pub bip: String,
    pub fixed_cidr: Option<String>,
    /// `ipv6` on: the default bridge's IPv6 subnet (`fixed-cidr-v6`).
    pub fixed_cidr_v6: Option<berth_net::Ipv6Net>,
    pub ipv6: bool,
    pub iptables: bool,
    pub ip_forward: bool,
    pub default_address_pools: Vec<AddressPool>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: usize,
    pub cgroup_parent: String,
    /// Defaults of every container's spec (ulimits, init, namespace modes).
    pub containers: ContainerDefaults,
    /// `seccomp-profile`, a profile file read and checked at load and reload.
    pub seccomp_profile: crate::seccomp::DaemonSeccomp,
    pub no_new_privileges: bool,
}

/// Default bridge and subnet: apart from docker0 (172.17.0.0/16) and Podman (10.88.0.0/16), so
/// Berth can run beside either.
pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_BIP: &str = "10.222.0.1/16";

impl Config {
    /// Socket path of the first host.
    pub fn socket_path(&self) -> PathBuf {
        self.listeners.first().map(|l| l.path.clone()).unwrap_or_else(|| PathBuf::from("/run/berth/berth.sock"))
    }
}

/// Reads and validates daemon.json. A missing file is an empty configuration only when it is the
/// default path; a file the user named must exist.
pub fn read_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let file = path.display().to_string();
    let err = |msg: String| ConfigError::File { file: file.clone(), msg };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(FileConfig::default()),
        Err(e) => return Err(err(e.to_string())),
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let map: Map<String, Value> = serde_json::from_str(&text).map_err(|e| err(format!("invalid JSON: {e}")))?;
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| {
            ![KNOWN_KEYS, containers::KEYS, tls::KEYS, logging::KEYS, bridge::KEYS].iter().any(|keys| keys.contains(k))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        )));
    }
    for (k, v) in &map {
        let one: Map<String, Value> = [(k.clone(), v.clone())].into_iter().collect();
        if let Err(e) = serde_json::from_value::<FileConfig>(Value::Object(one)) {
            return Err(err(format!("invalid value for \"{k}\": {e}")));
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| err(e.to_string()))
}

/// Directives given both as a flag and in the file, with Docker's wording.
fn conflicts(flags: &Flags, file: &FileConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |key: &str, flag: Option<String>, from_file: Option<String>| {
        if let (Some(a), Some(b)) = (flag, from_file) {
            out.push(format!("{key}: (from flag: {a}, from file: {b})"));
        }
    };
    let s = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| format!("[{}]", v.join(" ")));
    check("live-restore", flags.live_restore.map(|b| b.to_string()), file.live_restore.map(|b| b.to_string()));
    check("debug", flags.debug.map(|b| b.to_string()), file.debug.map(|b| b.to_string()));
    check("data-root", s(&flags.data_root), s(&file.data_root));
    check("exec-root", s(&flags.exec_root), s(&file.exec_root));
    check("hosts", list(&flags.hosts), file.hosts.as_ref().map(|v| format!("[{}]", v.join(" "))));
    check("group", flags.group.clone(), file.group.clone());
    check("pidfile", s(&flags.pidfile), s(&file.pidfile));
    check("storage-driver", flags.storage_driver.clone(), file.storage_driver.clone());
    check("default-runtime", flags.default_runtime.clone(), file.default_runtime.clone());
    check(
        "shutdown-timeout",
        flags.shutdown_timeout.map(|v| v.to_string()),
        file.shutdown_timeout.map(|v| v.to_string()),
    );
    check("labels", list(&flags.labels), file.labels.as_ref().map(|v| format!("[{}]", v.join(" "))));
    check(
        "insecure-registries",
        list(&flags.insecure_registries),
        file.insecure_registries.as_ref().map(|v| format!("[{}]", v.join(" "))),
    );
    check(
        "registry-mirrors",
        list(&flags.registry_mirrors),
        file.registry_mirrors.as_ref().map(|v| format!("[{}]", v.join(" "))),
    );
    check(
        "max-concurrent-downloads",
        flags.max_concurrent_downloads.map(|v| v.to_string()),
        file.max_concurrent_downloads.map(|v| v.to_string()),
    );
    check(
        "max-concurrent-uploads",
        flags.max_concurrent_uploads.map(|v| v.to_string()),
        file.max_concurrent_uploads.map(|v| v.to_string()),
    );
    check("cgroup-parent", flags.cgroup_parent.clone(), file.cgroup_parent.clone());
    check("seccomp-profile", flags.seccomp_profile.clone(), file.seccomp_profile.clone());
    check(
        "no-new-privileges",
        flags.no_new_privileges.map(|b| b.to_string()),
        file.no_new_privileges.map(|b| b.to_string()),
    );
    check("userns-remap", flags.userns_remap.clone(), file.userns_remap.clone());
    containers::conflicts(&flags.containers, &file.containers, &mut out);
    tls::conflicts(&flags.tls, &file.tls, &mut out);
    logging::conflicts(&flags.logging, &file.logging, &mut out);
    bridge::conflicts(&flags.network, &file.network, &mut out);
    out
}

fn kv_list(items: &[String], what: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| ConfigError::Invalid(format!("invalid {what} '{s}': expected key=value")))
        })
        .collect()
}

/// Merges flags, file and defaults, refusing directives given both ways.
pub fn merge(flags: &Flags, file: &FileConfig) -> Result<Config, ConfigError> {
    let config_file = flags.config_file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    let both = conflicts(flags, file);
    if !both.is_empty() {
        return Err(ConfigError::File {
            file: config_file.display().to_string(),
            msg: format!(
                "the following directives are specified both as a flag and in the configuration file: {}",
                both.join(", ")
            ),
        });
    }
    let exec_root = flags.exec_root.clone().or(file.exec_root.clone()).unwrap_or_else(|| "/run/berth".into());
    let hosts = if !flags.hosts.is_empty() { flags.hosts.clone() } else { file.hosts.clone().unwrap_or_default() };
    let hosts = if hosts.is_empty() { vec!["unix:///run/berth/berth.sock".to_string()] } else { hosts };
    let listeners = crate::listen::parse_hosts(&hosts).map_err(ConfigError::Invalid)?;
    let tcp: Vec<&str> = listeners.iter().filter(|l| l.tcp.is_some()).map(|l| l.text.as_str()).collect();
    let tls = tls::merge(&flags.tls, &file.tls, &tcp)?;
    let mut runtimes = file.runtimes.clone().unwrap_or_default();
    for (name, path) in kv_list(&flags.add_runtime, "runtime")? {
        runtimes.insert(name, RuntimeConf { path: path.into(), runtime_args: vec![] });
    }
    let logging::LogDefaults { driver: log_driver, opts: log_opts } = logging::merge(&flags.logging, &file.logging)?;
    let storage_driver =
        flags.storage_driver.clone().or(file.storage_driver.clone()).unwrap_or_else(|| "overlay2".into());
    if !["overlay2", "vfs"].contains(&storage_driver.as_str()) {
        return Err(ConfigError::Invalid(format!(
            "unknown storage driver \"{storage_driver}\": supported are overlay2, vfs"
        )));
    }
    let bridge::BridgeSettings {
        bridge,
        bip,
        fixed_cidr,
        ipv6,
        fixed_cidr_v6,
        iptables,
        ip_forward,
        default_address_pools,
    } = bridge::merge(&flags.network, &file.network)?;
    let concurrency = |key: &str, v: Option<usize>, default: usize| match v {
        Some(0) => Err(ConfigError::Invalid(format!("invalid value for {key}: 0 (at least 1)"))),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let max_concurrent_downloads =
        concurrency("max-concurrent-downloads", flags.max_concurrent_downloads.or(file.max_concurrent_downloads), 3)?;
    let max_concurrent_uploads =
        concurrency("max-concurrent-uploads", flags.max_concurrent_uploads.or(file.max_concurrent_uploads), 5)?;
    let insecure_registries = if !flags.insecure_registries.is_empty() {
        flags.insecure_registries.clone()
    } else {
        file.insecure_registries.clone().unwrap_or_default()
    };
    let registry_mirrors = if !flags.registry_mirrors.is_empty() {
        flags.registry_mirrors.clone()
    } else {
        file.registry_mirrors.clone().unwrap_or_default()
    };
    for m in &registry_mirrors {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "invalid mirror: unsupported scheme \"{m}\" in registry-mirrors (http:// or https://)"
            )));
        }
    }
    let cgroup_parent = flags.cgroup_parent.clone().or(file.cgroup_parent.clone());
    let cgroup_parent = match cgroup_parent {
        Some(p) => crate::cgroups::normalize_parent(&p)
            .map_err(|e| ConfigError::Invalid(format!("invalid value for cgroup-parent: {e}")))?,
        None => crate::cgroups::DEFAULT_PARENT.to_string(),
    };
    let containers = containers::merge(&flags.containers, &file.containers)?;
    let seccomp_profile = flags.seccomp_profile.as_deref().or(file.seccomp_profile.as_deref()).unwrap_or("builtin");
    let seccomp_profile = crate::seccomp::DaemonSeccomp::from_setting(seccomp_profile)
        .map_err(|e| ConfigError::Invalid(format!("invalid value for seccomp-profile: {e}")))?;
    let userns_remap = match flags.userns_remap.as_deref().or(file.userns_remap.as_deref()) {
        Some(s) => Some(userns::resolve(s)?),
        None => None,
    };
    let data_root_top: PathBuf =
        flags.data_root.clone().or(file.data_root.clone()).unwrap_or_else(|| "/var/lib/berth".into());
    let data_root = match &userns_remap {
        Some(r) => {
            let (uid, gid) = r.maps.root();
            data_root_top.join(format!("{uid}.{gid}"))
        }
        None => data_root_top.clone(),
    };
    Ok(Config {
        userns_remap,
        data_root_top,
        containers,
        seccomp_profile,
        no_new_privileges: flags.no_new_privileges.or(file.no_new_privileges).unwrap_or(false),
        cgroup_parent,
        insecure_registries,
        registry_mirrors,
        max_concurrent_downloads,
        max_concurrent_uploads,
        bridge,
        bip,
        fixed_cidr,
        ipv6,
        fixed_cidr_v6,
        iptables,
        ip_forward,
        default_address_pools,
        pidfile: flags.pidfile.clone().or(file.pidfile.clone()).unwrap_or_else(|| exec_root.join("berthd.pid")),
        live_restore: flags.live_restore.or(file.live_restore).unwrap_or(false),
        debug: flags.debug.or(file.debug).unwrap_or(false),
        data_root,
        exec_root,
        hosts,
        listeners,
        tls,
        group: flags.group.clone().or(file.group.clone()),
        storage_driver,
        default_runtime: flags
            .default_runtime
            .clone()
            .or(file.default_runtime.clone())
            .unwrap_or_else(|| "berth".into()),
        runtimes,
        shutdown_timeout: flags.shutdown_timeout.or(file.shutdown_timeout).unwrap_or(15),
        log_driver,
        log_opts,
        labels: if !flags.labels.is_empty() { flags.labels.clone() } else { file.labels.clone().unwrap_or_default() },
        config_file,
    })
}

/// Loads the configuration at start-up.
pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
    let explicit = flags.config_file.is_some();
    let path = flags.config_file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    let file = read_file(&path, explicit)?;
    merge(flags, &file)
}

/// What a SIGHUP changed.
#[derive(Debug, Default)]
pub struct ReloadOutcome {
    pub applied: Vec<String>,
    pub needs_restart: Vec<String>,
}

/// Applies the reloadable keys of `new` to `cur`; names the changed keys that need a restart.
pub fn apply_reload(cur: &mut Config, new: &Config) -> ReloadOutcome {
    let mut out = ReloadOutcome::default();
    macro_rules! reload {
        ($field:ident, $key:expr) => {
            if cur.$field != new.$field {
                out.applied.push(format!("{}: {:?} -> {:?}", $key, cur.$field, new.$field));
                cur.$field = new.$field.clone();
            }
        };
    }
    reload!(live_restore, "live-restore");
    reload!(debug, "debug");
    reload!(labels, "labels");
    reload!(shutdown_timeout, "shutdown-timeout");
    reload!(runtimes, "runtimes");
    reload!(default_runtime, "default-runtime");
    reload!(log_opts, "log-opts");
    reload!(containers, "default-ulimits/init/init-path/default-cgroupns-mode/default-ipc-mode");
    reload!(seccomp_profile, "seccomp-profile");
    reload!(no_new_privileges, "no-new-privileges");
    macro_rules! fixed {
        ($field:ident, $key:expr) => {
            if cur.$field != new.$field {
                out.needs_restart.push($key.to_string());
            }
        };
    }
    fixed!(data_root, "data-root");
    fixed!(userns_remap, "userns-remap");
    fixed!(exec_root, "exec-root");
    fixed!(hosts, "hosts");
    fixed!(tls, "tls/tlsverify/tlscacert/tlscert/tlskey");
    fixed!(group, "group");
    fixed!(pidfile, "pidfile");
    fixed!(storage_driver, "storage-driver");
    fixed!(bridge, "bridge");
    fixed!(bip, "bip");
    fixed!(fixed_cidr, "fixed-cidr");
    fixed!(ipv6, "ipv6");
    fixed!(fixed_cidr_v6, "fixed-cidr-v6");
    fixed!(iptables, "iptables");
    fixed!(cgroup_parent, "cgroup-parent");
    out
}

#[cfg(test)]
mod tests;
