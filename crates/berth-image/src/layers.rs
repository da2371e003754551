//! The layer store: `<data-root>/storage/layers/<chain-id-hex>/{diff,layer.json}`. A layer is
//! extracted once into a temporary directory beside its final place and published by a rename,
//! so a crash never leaves a half-written layer visible.

use crate::digest::{chain_id, hex_part, is_full_hex};
use crate::error::{ImageError, IoContext};
use crate::extract::extract_recorded;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One extracted layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    /// Sum of regular file sizes in this layer.
    pub size: u64,
    /// The overlayfs-format directory (read-only by convention).
    #[serde(skip)]
    pub diff_dir: PathBuf,
}

/// An extracted layer not yet published.
pub(crate) struct Prepared {
    tmp: PathBuf,
    pub(crate) info: LayerInfo,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.tmp.exists() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

pub(crate) struct LayerStore {
    dir: PathBuf,
}

fn tmp_name(prefix: &str) -> String {
    format!(".tmp-{prefix}-{:016x}", rand::random::<u64>())
}

impl LayerStore {
    pub(crate) fn open(data_root: &Path) -> Result<Self, ImageError> {
        let dir = data_root.join("storage").join("layers");
        berth_proto::fsutil::create_dir_mode(&dir, berth_proto::fsutil::modes::STORAGE_DIR)
            .ctx(|| format!("creating {}", dir.display()))?;
        // Leftovers of extractions or deletions a crash interrupted.
        for e in fs::read_dir(&dir).ctx(|| format!("reading {}", dir.display()))?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(LayerStore { dir })
    }

    pub(crate) fn layer_dir(&self, chain: &str) -> PathBuf {
        self.dir.join(hex_part(chain))
    }

    pub(crate) fn get(&self, chain: &str) -> Result<LayerInfo, ImageError> {
        let dir = self.layer_dir(chain);
        let mut info: LayerInfo = berth_proto::fsutil::read_json(&dir.join("layer.json"))
            .ctx(|| format!("reading layer {chain}"))?
            .ok_or_else(|| ImageError::NotFound(format!("layer {chain} does not exist")))?;
        info.diff_dir = dir.join("diff");
        Ok(info)
    }

    pub(crate) fn exists(&self, chain: &str) -> bool {
        self.layer_dir(chain).join("layer.json").is_file()
    }

    /// Extracts a layer on top of `parent` into a temporary directory.
    pub(crate) fn prepare(&self, r: impl Read, parent: Option<&str>) -> Result<Prepared, ImageError> {
        self.prepare_with(r, parent, true)
    }

    /// [`LayerStore::prepare`]; without `sync` the caller syncs once for several layers before
    /// anything refers to them (a layer nothing refers to is swept at the next start, so one
    /// that a power loss left half-written is never used).
    pub(crate) fn prepare_with(&self, r: impl Read, parent: Option<&str>, sync: bool) -> Result<Prepared, ImageError> {
        if let Some(p) = parent {
            if !self.exists(p) {
                return Err(ImageError::NotFound(format!("parent layer {p} does not exist")));
            }
        }
        let tmp = self.dir.join(tmp_name("layer"));
        let diff = tmp.join("diff");
        // The layer's directory keeps others out (its files include the images' setuid
        // binaries); `diff` is the layer's root and gets the mode its tarball gives it.
        berth_proto::fsutil::create_dir_mode(&tmp, berth_proto::fsutil::modes::STORAGE_DIR)
            .and_then(|()| fs::create_dir(&diff))
            .ctx(|| format!("creating {}", diff.display()))?;
        let mut prepared = Prepared {
            tmp,
            info: LayerInfo {
                chain_id: String::new(),
                diff_id: String::new(),
                parent: parent.map(String::from),
                size: 0,
                diff_dir: PathBuf::new(),
            },
        };
        let stats = extract_recorded(r, &diff, Some(&prepared.tmp.join(crate::tarsplit::FILE)))?;
        prepared.info.chain_id = chain_id(parent, &stats.diff_id);
        prepared.info.diff_id = stats.diff_id;
        prepared.info.size = stats.size;
        berth_proto::fsutil::write_json_atomic(&prepared.tmp.join("layer.json"), &prepared.info)
            .ctx(|| "writing layer.json".into())?;
        // Everything extracted must be on disk before the layer becomes visible.
        if sync {
            let fd = fs::File::open(&prepared.tmp).ctx(|| "opening layer dir".into())?;
            rustix::fs::syncfs(&fd).ctx(|| "syncfs".into())?;
        }
        Ok(prepared)
    }

    /// Publishes a prepared layer; if the same chain id already exists it is reused.
    pub(crate) fn commit(&self, prepared: Prepared) -> Result<LayerInfo, ImageError> {
        let chain = prepared.info.chain_id.clone();
        let dest = self.layer_dir(&chain);
        if !self.exists(&chain) {
            if dest.exists() {
                // A directory without layer.json is no layer: a leftover to replace.
                fs::remove_dir_all(&dest).ctx(|| format!("removing {}", dest.display()))?;
            }
            fs::rename(&prepared.tmp, &dest).ctx(|| format!("publishing layer {chain}"))?;
            fs::File::open(&self.dir).and_then(|d| d.sync_all()).ctx(|| "syncing layers dir".into())?;
        }
        drop(prepared);
        self.get(&chain)
    }

    /// The layer's tarball as it was imported (length, writer), byte for byte, checked against
    /// its diff id.
    // An `impl FnOnce` cannot be named by a type alias on stable Rust.
    #[allow(clippy::type_complexity)]
    pub(crate) fn tarball(
        &self,
        chain: &str,
    ) -> Result<(u64, impl FnOnce(&mut dyn std::io::Write) -> Result<(), ImageError>), ImageError> {
        let info = self.get(chain)?;
        let split = self.layer_dir(chain).join(crate::tarsplit::FILE);
        if !split.is_file() {
            return Err(ImageError::Other(format!(
                "layer {} was stored by a Berth that did not keep tar metadata: it cannot be saved; import the image again",
                info.diff_id
            )));
        }
        let len = crate::tarsplit::tar_len(&split)?;
        let write = move |w: &mut dyn std::io::Write| {
            let mut hw = crate::digest::HashingWriter::new(w);
            crate::tarsplit::write_tar(&split, &info.diff_dir, &mut hw)?;
            let got = hw.finish();
            if got != info.diff_id {
                return Err(ImageError::Other(format!(
                    "layer {} changed on disk: it now hashes to {got}",
                    info.diff_id
                )));
            }
            Ok(())
        };
        Ok((len, write))
    }

    pub(crate) fn list(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_full_hex(n))
            .map(|n| format!("sha256:{n}"))
            .collect()
    }

    /// Deletes a layer: renamed away first so that it vanishes from view at once.
    pub(crate) fn delete(&self, chain: &str) -> Result<(), ImageError> {
        let dir = self.layer_dir(chain);
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.dir.join(tmp_name("delete"));
        fs::rename(&dir, &tmp).ctx(|| format!("removing layer {chain}"))?;
        fs::remove_dir_all(&tmp).ctx(|| format!("removing layer {chain}"))
    }
}
