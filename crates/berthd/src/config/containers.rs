//! Daemon-wide defaults of the container spec, with dockerd's flags and daemon.json keys:
//! `default-ulimits` (`--default-ulimit`), `init` and `init-path`, `default-cgroupns-mode`,
//! `default-ipc-mode`. All are read at each container's start, so a SIGHUP reload applies them
//! to the next start.

use super::ConfigError;
use crate::model::Ulimit;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// daemon.json keys of this file.
pub const KEYS: &[&str] = &["default-ulimits", "init", "init-path", "default-cgroupns-mode", "default-ipc-mode"];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContainerFlags {
    /// Default ulimits for containers (name=soft[:hard])
    #[arg(long = "default-ulimit", value_name = "ULIMIT")]
    pub default_ulimits: Vec<String>,
    /// Run an init inside containers to forward signals and reap processes
    #[arg(long = "init", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub init: Option<bool>,
    /// Path to the init binary (default: /usr/bin/tini-static, else docker-init)
    #[arg(long = "init-path", value_name = "FILE")]
    pub init_path: Option<PathBuf>,
    /// Default cgroup namespace mode of containers (host, private)
    #[arg(long = "default-cgroupns-mode", value_name = "MODE")]
    pub default_cgroupns_mode: Option<String>,
    /// Default IPC mode of containers (private)
    #[arg(long = "default-ipc-mode", value_name = "MODE")]
    pub default_ipc_mode: Option<String>,
}

/// daemon.json's form: `"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ContainerFile {
    pub default_ulimits: Option<BTreeMap<String, Ulimit>>,
    pub init: Option<bool>,
    pub init_path: Option<PathBuf>,
    pub default_cgroupns_mode: Option<String>,
    pub default_ipc_mode: Option<String>,
}

/// In force.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerDefaults {
    pub default_ulimits: Vec<Ulimit>,
    pub init: bool,
    pub init_path: Option<PathBuf>,
    /// "host" or "private".
    pub default_cgroupns_mode: String,
    /// "private".
    pub default_ipc_mode: String,
}

impl Default for ContainerDefaults {
    fn default() -> Self {
        ContainerDefaults {
            default_ulimits: vec![],
            init: false,
            init_path: None,
            default_cgroupns_mode: default_cgroupns(),
            default_ipc_mode: "private".into(),
        }
    }
}

/// Docker's: a cgroup namespace of its own on cgroup v2, the host's on v1.
fn default_cgroupns() -> String {
    if crate::cgroupctl::is_v2() { "private" } else { "host" }.into()
}

/// `--default-ulimit nofile=1024:2048` (a single number is both limits).
fn parse_ulimit(s: &str) -> Result<Ulimit, ConfigError> {
    let bad = || ConfigError::Invalid(format!("invalid default-ulimit {s:?}: expected name=soft[:hard]"));
    let (name, limits) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    Ok(Ulimit { name: name.into(), soft: soft.parse().map_err(|_| bad())?, hard: hard.parse().map_err(|_| bad())? })
}

/// Directives of this file given both ways, in `conflicts`' format.
pub fn conflicts(f: &ContainerFlags, file: &ContainerFile, out: &mut Vec<String>) {
    let mut check = |key: &str, a: Option<String>, b: Option<String>| {
        if let (Some(a), Some(b)) = (a, b) {
            out.push(format!("{key}: (from flag: {a}, from file: {b})"));
        }
    };
    let ulimits = (!f.default_ulimits.is_empty()).then(|| format!("[{}]", f.default_ulimits.join(" ")));
    check("default-ulimits", ulimits, file.default_ulimits.as_ref().map(|m| format!("{m:?}")));
    check("init", f.init.map(|b| b.to_string()), file.init.map(|b| b.to_string()));
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    check("init-path", path(&f.init_path), path(&file.init_path));
    check("default-cgroupns-mode", f.default_cgroupns_mode.clone(), file.default_cgroupns_mode.clone());
    check("default-ipc-mode", f.default_ipc_mode.clone(), file.default_ipc_mode.clone());
}

pub fn merge(f: &ContainerFlags, file: &ContainerFile) -> Result<ContainerDefaults, ConfigError> {
    let mut default_ulimits: Vec<Ulimit> = match &file.default_ulimits {
        Some(m) => m
            .iter()
            .map(|(k, u)| Ulimit { name: if u.name.is_empty() { k.clone() } else { u.name.clone() }, ..u.clone() })
            .collect(),
        None => f.default_ulimits.iter().map(|s| parse_ulimit(s)).collect::<Result<_, _>>()?,
    };
    default_ulimits.sort_by(|a, b| a.name.cmp(&b.name));
    for u in &default_ulimits {
        crate::oci::ulimits::check(u).map_err(|e| ConfigError::Invalid(format!("invalid default-ulimits: {e}")))?;
    }
    let cgroupns =
        f.default_cgroupns_mode.clone().or(file.default_cgroupns_mode.clone()).unwrap_or_else(default_cgroupns);
    if !matches!(cgroupns.as_str(), "host" | "private") {
        return Err(ConfigError::Invalid(format!("invalid default-cgroupns-mode {cgroupns:?}: host or private")));
    }
    let ipc = f.default_ipc_mode.clone().or(file.default_ipc_mode.clone()).unwrap_or_else(|| "private".into());
    match ipc.as_str() {
        "private" => {}
        "shareable" => {
            return Err(ConfigError::Invalid(
                "default-ipc-mode \"shareable\" is not supported by Berth (private is)".into(),
            ))
        }
        other => return Err(ConfigError::Invalid(format!("invalid default-ipc-mode {other:?}: private or shareable"))),
    }
    let init = f.init.or(file.init).unwrap_or(false);
    let init_path = f.init_path.clone().or(file.init_path.clone());
    if init || init_path.is_some() {
        crate::oci::init::lookup(init_path.as_deref()).map_err(ConfigError::Invalid)?;
    }
    Ok(ContainerDefaults { default_ulimits, init, init_path, default_cgroupns_mode: cgroupns, default_ipc_mode: ipc })
}
