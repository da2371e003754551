//! A container's files: `GET /containers/{id}/changes` entries and the stat of a path that
//! `HEAD`/`GET /containers/{id}/archive` send, base64-encoded JSON, in the
//! `X-Docker-Container-Path-Stat` header.

use serde::{Deserialize, Serialize};

/// `Kind` of a filesystem change: 0 modified ("C"), 1 added ("A"), 2 deleted ("D").
pub mod change_kind {
    pub const MODIFIED: u8 = 0;
    pub const ADDED: u8 = 1;
    pub const DELETED: u8 = 2;
}

/// One entry of `GET /containers/{id}/changes`: `{"Path": "/etc/x", "Kind": 1}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FilesystemChange {
    pub path: String,
    /// One of [`change_kind`]; a number on the wire.
    pub kind: u8,
}

impl FilesystemChange {
    /// The letter `docker diff` prints: "C", "A" or "D" ("?" for an unknown kind).
    pub fn letter(&self) -> &'static str {
        match self.kind {
            change_kind::MODIFIED => "C",
            change_kind::ADDED => "A",
            change_kind::DELETED => "D",
            _ => "?",
        }
    }
}

/// The `X-Docker-Container-Path-Stat` header's JSON (lowercase keys, as Docker sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathStat {
    /// The base name of the path.
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` as a number: permission bits plus Go's type bits (directory is
    /// 1 << 31, symlink 1 << 27), not the Unix `st_mode` type bits.
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// The target for a symlink, else "".
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// Go's `os.ModeDir`.
    pub const MODE_DIR: u32 = 1 << 31;
    /// Go's `os.ModeSymlink`.
    pub const MODE_SYMLINK: u32 = 1 << 27;
}
