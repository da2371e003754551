//! Build cache types: the records `GET /system/df` lists under `BuildCache` and the answer of
//! `POST /build/prune`. Berth has no builder yet, so both are empty lists, but the shapes are
//! what clients parse.

use crate::serde_util::nullable;
use serde::{Deserialize, Serialize};

/// One build cache record (Go's `build.CacheRecord`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCache {
    #[serde(rename = "ID")]
    pub id: String,
    /// Deprecated in API 1.42 for `Parents`; Docker 28 no longer sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<String>>,
    /// "internal", "frontend", "source.local", "source.git.checkout", "exec.cachemount",
    /// "regular".
    pub r#type: String,
    pub description: String,
    pub in_use: bool,
    pub shared: bool,
    /// Bytes.
    pub size: i64,
    /// RFC 3339 with nanoseconds.
    pub created_at: String,
    /// `null` when never used.
    pub last_used_at: Option<String>,
    pub usage_count: i64,
}

/// Answer of `POST /build/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCachePruneResponse {
    /// `null` when nothing was deleted.
    pub caches_deleted: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub space_reclaimed: u64,
}
