//! A managed plugin's record (`<data-root>/plugins/<id>/plugin.json`): its name, and its
//! `config.json` kept as the author wrote it (the API reads it with Go's case-insensitive
//! field names). Its files are beside it in `rootfs/`.

use serde::{Deserialize, Serialize};

pub const PLUGIN_RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRecord {
    pub record_version: u32,
    pub id: String,
    /// `name:tag`, as normalized at create (`:latest` added).
    pub name: String,
    pub created: String,
    pub config: serde_json::Value,
}
