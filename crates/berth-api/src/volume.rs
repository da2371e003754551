//! Volume types: a volume as list, inspect and create report it, the list answer, the create
//! body and the prune answer. Cluster (CSI) volume parts are kept opaque: Berth has no swarm.

use crate::serde_util::nullable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// A volume, as list and inspect report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// "local" or "global".
    pub scope: String,
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
    /// Swarm cluster volumes only; kept opaque.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_volume: Option<serde_json::Value>,
}

/// Answer of `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    #[serde(deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
    #[serde(deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// Body of `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    #[serde(deserialize_with = "nullable")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Creates a swarm cluster (CSI) volume; kept opaque so the daemon can refuse it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_volume_spec: Option<serde_json::Value>,
}

/// Answer of `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneResponse {
    /// `null` when nothing was deleted.
    pub volumes_deleted: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub space_reclaimed: u64,
}
