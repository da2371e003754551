//! The containers' default log driver and its options, with dockerd's flags and daemon.json
//! keys: `log-driver` (`--log-driver`), `log-opts` (`--log-opt key=value`). A container's own
//! `HostConfig.LogConfig` overrides them at create.

use super::{kv_list, ConfigError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// daemon.json keys of this file.
pub const KEYS: &[&str] = &["log-driver", "log-opts"];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogFlags {
    /// Default driver for container logs
    #[arg(long = "log-driver", value_name = "NAME")]
    pub log_driver: Option<String>,
    /// Default log driver options for containers (key=value)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogFile {
    pub log_driver: Option<String>,
    pub log_opts: Option<BTreeMap<String, String>>,
}

/// In force.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDefaults {
    pub driver: String,
    pub opts: BTreeMap<String, String>,
}

pub fn conflicts(f: &LogFlags, file: &LogFile, out: &mut Vec<String>) {
    if let (Some(a), Some(b)) = (&f.log_driver, &file.log_driver) {
        out.push(format!("log-driver: (from flag: {a}, from file: {b})"));
    }
    if let (false, Some(b)) = (f.log_opts.is_empty(), &file.log_opts) {
        out.push(format!("log-opts: (from flag: [{}], from file: {b:?})", f.log_opts.join(" ")));
    }
}

pub fn merge(f: &LogFlags, file: &LogFile) -> Result<LogDefaults, ConfigError> {
    let mut opts = file.log_opts.clone().unwrap_or_default();
    opts.extend(kv_list(&f.log_opts, "log-opt")?);
    let driver = f.log_driver.clone().or(file.log_driver.clone()).unwrap_or_else(|| "json-file".into());
    if driver != "json-file" {
        return Err(ConfigError::Invalid(format!(
            "log driver \"{driver}\" is not supported: berthd writes json-file logs"
        )));
    }
    crate::logs::validate_log_opts(&opts).map_err(ConfigError::Invalid)?;
    Ok(LogDefaults { driver, opts })
}
