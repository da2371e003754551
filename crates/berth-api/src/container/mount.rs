//! `HostConfig.Mounts` entries (`--mount`, Go's `mount.Mount`) with their per-type options:
//! bind, volume, image and tmpfs. Every field of API 1.51 is here so the daemon can refuse the
//! ones it does not implement by name. Go marks all of them `omitempty`.

use crate::serde_util::nullable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `HostConfig.Mounts` entry (`--mount`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub source: String,
    /// "bind", "volume", "tmpfs", "npipe", "cluster", "image".
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub r#type: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub read_only: bool,
    /// "default", "consistent", "cached", "delegated" (ignored on Linux).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// API 1.48+.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// "private", "rprivate", "shared", "rshared", "slave", "rslave".
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub propagation: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub create_mountpoint: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub read_only_non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub read_only_force_recursive: bool,
}

/// `VolumeOptions` of a `volume` mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not copy the image's content at the target into a new volume.
    #[serde(skip_serializing_if = "std::ops::Not::not", deserialize_with = "nullable")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
    /// A path inside the volume to mount instead of its root (API 1.45+).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub subpath: String,
}

/// `VolumeOptions.DriverConfig`: the driver to create the volume with, and its options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// `ImageOptions` of an `image` mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageOptions {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes; unlimited when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Permission bits, as a number (`1777` octal is 1023).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Raw mount options: `[["noexec"], ["uid", "1000"]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}
