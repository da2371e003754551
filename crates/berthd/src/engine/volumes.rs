//! Named and anonymous volumes (`local` driver): `<data-root>/volumes/<name>/_data`, with the
//! volume's metadata beside it. They live in the data-root, outside any container, so they survive
//! container removal and every daemon restart; a volume in use by a container is never removed.

use crate::engine::EngineError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, an image's VOLUME): `rm -v` and `--rm` remove it.
    #[serde(default)]
    pub anonymous: bool,
    /// Filled from the image on its first mount (Docker copies the image's content at the mount
    /// point into an empty new volume once).
    #[serde(default)]
    pub populated: bool,
}

pub struct Volumes {
    root: PathBuf,
    /// Serializes create/remove so a name is never handed out twice.
    lock: Mutex<()>,
}

/// Docker's rule for volume names.
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Volumes {
    pub fn new(data_root: &Path) -> Self {
        Volumes { root: data_root.join("volumes"), lock: Mutex::new(()) }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Option<Volume> {
        if !valid_name(name) {
            return None;
        }
        berth_proto::fsutil::read_json(&self.dir(name).join("volume.json")).ok().flatten()
    }

    pub fn list(&self) -> Vec<Volume> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return vec![];
        };
        let mut v: Vec<Volume> = rd.flatten().filter_map(|e| self.get(&e.file_name().to_string_lossy())).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Creates the volume, or returns the existing one of that name (as Docker does).
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume, EngineError> {
        let anonymous = name.is_none_or(str::is_empty);
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) if !valid_name(n) => {
                return Err(EngineError::invalid(format!("create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")))
            }
            Some(n) => n.to_string(),
            None => crate::engine::store::new_id(),
        };
        if let Some(k) = options.keys().find(|k| !matches!(k.as_str(), "type" | "device" | "o" | "size")) {
            return Err(EngineError::invalid(format!("create {name}: invalid option key: {k:?}")));
        }
        let _g = self.lock.lock().expect("volumes lock");
        if let Some(v) = self.get(&name) {
            return Ok(v);
        }
        let v = Volume {
            name: name.clone(),
            created: crate::engine::store::now_rfc3339(),
            labels,
            options,
            anonymous,
            populated: false,
        };
        std::fs::create_dir_all(self.data_path(&name)).map_err(|e| failed("create", &name, e))?;
        // Docker's: under --userns-remap a volume's root belongs to the containers' root.
        if let Some((uid, gid)) = berth_proto::fsutil::remapped_root() {
            std::os::unix::fs::chown(self.data_path(&name), Some(uid), Some(gid))
                .map_err(|e| failed("create", &name, e))?;
        }
        berth_proto::fsutil::write_json_atomic(&self.dir(&name).join("volume.json"), &v)
            .map_err(|e| failed("create", &name, e))?;
        Ok(v)
    }

    pub fn mark_populated(&self, name: &str) {
        if let Some(mut v) = self.get(name) {
            v.populated = true;
            let _ = berth_proto::fsutil::write_json_atomic(&self.dir(name).join("volume.json"), &v);
        }
    }

    /// Removes the volume and its data; the caller has checked that no container uses it.
    pub fn remove(&self, name: &str) -> Result<u64, EngineError> {
        let _g = self.lock.lock().expect("volumes lock");
        if self.get(name).is_none() {
            return Err(EngineError::not_found(format!("get {name}: no such volume")));
        }
        let size = dir_size(&self.data_path(name));
        // Renamed first, so a crash half-way never leaves a volume that looks whole.
        let doomed = self.root.join(format!(".removing-{name}"));
        std::fs::rename(self.dir(name), &doomed).map_err(|e| failed("remove", name, e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| failed("remove", name, e))?;
        Ok(size)
    }

    /// Leftovers of removals a crash cut short.
    pub fn sweep(&self) {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

pub fn dir_size(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
}

/// A volume's filesystem step failed: the daemon's fault, not the caller's (500).
fn failed(verb: &str, name: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::internal(format!("{verb} {name}: {e}"))
}
