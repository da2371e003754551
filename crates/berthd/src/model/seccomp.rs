//! The seccomp filter a container records at create.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The filter a container was created with (kept in its record, invariant 8). A custom
/// profile's JSON lives in a file of the container's directory so records stay small.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum SeccompRecord {
    /// Berth's default profile as this daemon binary carries it. Also what records written
    /// before seccomp existed mean (invariant 9: Docker's default applies).
    #[default]
    Builtin,
    Unconfined,
    Custom {
        profile: PathBuf,
        /// `api` or `daemon:<path>`: where the profile came from, for the record's reader.
        origin: String,
    },
}
