//! The build cache: which image a step made on top of which parent. A key is the parent image
//! id, the step's history line (what Docker compares: the instruction with its build args) and,
//! for COPY/ADD, the checksum of the files' content and metadata (never their times). Entries
//! are files under `<data-root>/builder/cache/`, written atomically after the image exists, so
//! the cache survives restarts and a crash never names a half-made image; an entry whose image
//! was removed is a miss.

use crate::engine::daemon::Daemon;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::PathBuf;

pub(super) struct Cache {
    dir: PathBuf,
    /// `cache_from`: only images in these images' ancestry may be reused (dockerd uses only
    /// them, not the local cache, when the option is given).
    allowed: Option<HashSet<String>>,
    disabled: bool,
}

pub(super) fn key(parent: &str, created_by: &str, content: &str) -> String {
    let mut h = Sha256::new();
    for part in [parent, created_by, content] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Cache {
    pub(super) fn open(d: &Daemon, no_cache: bool, cache_from: &[String]) -> Cache {
        let dir = super::context::builder_dir(d).join("cache");
        let allowed = (!cache_from.is_empty()).then(|| {
            let mut set = HashSet::new();
            for r in cache_from {
                let Ok(img) = d.images.resolve(r) else { continue };
                let mut next = Some(img.id.to_string());
                while let Some(id) = next {
                    if !set.insert(id.clone()) {
                        break;
                    }
                    next = d.images.parent(&id).map(|p| p.to_string());
                }
            }
            set
        });
        Cache { dir, allowed, disabled: no_cache }
    }

    /// The image a previous build made for this key, if it is still there.
    pub(super) fn get(&self, d: &Daemon, key: &str) -> Option<String> {
        if self.disabled {
            return None;
        }
        let id = std::fs::read_to_string(self.dir.join(key)).ok()?;
        let id = id.trim().to_string();
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(&id) {
                return None;
            }
        }
        d.images.resolve(&id).ok().map(|i| i.id.to_string())
    }

    /// Records the step's image; a failure costs only a later cache miss.
    pub(super) fn put(&self, key: &str, image: &str) {
        let res = berth_proto::fsutil::create_dir_mode(&self.dir, berth_proto::fsutil::modes::PRIVATE_DIR)
            .and_then(|()| berth_proto::fsutil::write_atomic(&self.dir.join(key), image.as_bytes()));
        if let Err(e) = res {
            tracing::warn!("recording a build cache entry: {e}");
        }
    }
}
