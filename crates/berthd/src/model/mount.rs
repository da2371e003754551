//! A mount as the container's record keeps it, resolved once at create.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// The volume's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
    /// The options as given (`ro`, `z`, …), shown by inspect.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub propagation: String,
    /// Mount options of a tmpfs (`size=…`, `mode=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// A new volume is filled from the image at its first mount, unless `nocopy`.
    #[serde(default)]
    pub copy_up: bool,
}
