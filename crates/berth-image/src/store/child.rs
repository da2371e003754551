//! Images made on top of other images (`docker commit`, the builder's steps), after moby's
//! `image.NewChildImage` and `CommitImage`: a layer made from a container's changes, and an image
//! whose parent is recorded beside it (`image/parent/<child hex>`, holding the parent's id;
//! Docker's `imagedb/metadata/sha256/<id>/parent`).
//!
//! Crash safety: the layer is published first (nothing refers to it until an image does: a
//! crash leaves it to the sweep at `open`), then the parent record (a record whose image blob is
//! missing is swept at `open`), then the config blob, which makes the image visible whole.

use super::{ImageId, ImageStore, State};
use crate::config::{host_architecture, ContainerConfig, History, ImageConfig, RootFs};
use crate::digest::{chain_ids, hex_part, is_full_hex, sha256_digest};
use crate::driver::StorageDriver;
use crate::error::{ImageError, IoContext};
use crate::layerdiff::EMPTY_LAYER_DIFF_ID;
use crate::layers::LayerInfo;
use crate::reference::normalize_reference;
use std::fs;
use std::path::{Path, PathBuf};

/// What [`ImageStore::create_child`] makes.
#[derive(Debug, Clone, Default)]
pub struct ChildImage {
    /// The layer on top of the parent's, from [`ImageStore::layer_from_container`]; None (or
    /// Docker's empty layer) adds none, and the history row says `empty_layer`.
    pub layer: Option<LayerInfo>,
    /// The new image's config, as given.
    pub config: ContainerConfig,
    /// The history row's `created_by`.
    pub created_by: String,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Tag to give it, if any.
    pub reference: Option<String>,
    /// The source container's id (Docker's `container` field).
    pub container: Option<String>,
}

/// The parent records' directory under the data root.
pub(super) fn parents_dir(data_root: &Path) -> PathBuf {
    data_root.join("image").join("parent")
}

/// Reads the parent records of the images in `st`; removes those whose image is gone (a crash
/// between a record and its image, or during a removal).
pub(super) fn load_parents(dir: &Path, st: &mut State) -> Result<(), ImageError> {
    berth_proto::fsutil::create_dir_mode(dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
    for e in fs::read_dir(dir).ctx(|| format!("reading {}", dir.display()))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = format!("sha256:{name}");
        let parent = fs::read_to_string(e.path()).unwrap_or_default();
        let parent = parent.trim();
        let valid = is_full_hex(&name) && parent.strip_prefix("sha256:").is_some_and(is_full_hex);
        if !valid || !st.images.contains_key(&child) {
            tracing::info!(image = %child, "removing the parent record of an image that is not there");
            let _ = fs::remove_file(e.path());
            continue;
        }
        st.parents.insert(child, parent.to_string());
    }
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl ImageStore {
    /// The layer tar (Docker's format: whiteouts as `.wh.<name>`, opaque dirs as
    /// `.wh..wh..opq`, sorted by path, owners/modes/xattrs/mtimes as on disk) of what
    /// `container_id` changed over `image_layers` (its image's diff dirs, lowest first),
    /// extracted into the layer store on top of `parent_chain` (the image's top chain id, None
    /// for scratch). An unchanged container gives Docker's empty layer
    /// ([`crate::EMPTY_LAYER_DIFF_ID`]). The layer is published but no image references it yet:
    /// call [`ImageStore::create_child`] soon (unreferenced layers are swept at open).
    /// The daemon's mount points (`/etc/hosts`, `/proc`, … where the image had none) are left
    /// out, as Docker's init layer keeps them out of its commits.
    pub fn layer_from_container(
        &self,
        driver: &dyn StorageDriver,
        container_id: &str,
        image_layers: &[PathBuf],
        parent_chain: Option<&str>,
    ) -> Result<LayerInfo, ImageError> {
        let source = driver.diff_source(container_id)?;
        let (reader, writer) = std::io::pipe().ctx(|| "making a pipe".into())?;
        let layers = image_layers.to_vec();
        let producer = std::thread::Builder::new()
            .name("berth-commit-tar".into())
            .spawn(move || crate::layerdiff::write_layer(&source, &layers, writer))
            .ctx(|| "starting the layer writer".into())?;
        let prepared = self.layers.prepare_with(reader, parent_chain, true);
        // A writer that failed closed its end early: what was read is a cut tarball, never a layer.
        let written = producer.join().map_err(|_| ImageError::Other("the layer writer panicked".into()))?;
        let prepared = prepared?;
        written?;
        let info = {
            let _g = self.lock();
            self.layers.commit(prepared)?
        };
        berth_proto::crashpoint::hit("commit.after-layer");
        Ok(info)
    }

    /// A new image on top of `parent` (an image id; None = from scratch): its rootfs is the
    /// parent's diff ids plus `child.layer` unless that is none or Docker's empty layer, its
    /// history the parent's plus one row, its `config` `child.config` as given,
    /// `architecture`/`variant`/`os` the parent's (or the host's), `container` and
    /// `container_config` (`child.config`) when `child.container` is given. The parent is
    /// recorded before the image is visible.
    pub fn create_child(&self, parent: Option<&str>, child: ChildImage) -> Result<ImageId, ImageError> {
        let container_config = child.container.as_ref().map(|_| child.config.clone());
        self.create_child_with(parent, child, container_config)
    }

    /// [`ImageStore::create_child`] with the `container_config` to record (a commit's: the
    /// container's config before the changes, as dockerd writes it).
    pub fn create_child_with(
        &self,
        parent: Option<&str>,
        child: ChildImage,
        container_config: Option<ContainerConfig>,
    ) -> Result<ImageId, ImageError> {
        let reference = child.reference.as_deref().map(normalize_reference).transpose()?;
        let _g = self.lock();
        let base = match parent {
            Some(p) => {
                let st = self.read_state();
                let id = Self::resolve_id(&st, p)?;
                Some((id.clone(), st.images[&id].config.clone()))
            }
            None => None,
        };
        let empty = child.layer.as_ref().filter(|l| l.diff_id == EMPTY_LAYER_DIFF_ID).map(|l| l.chain_id.clone());
        let layer = child.layer.filter(|l| l.diff_id != EMPTY_LAYER_DIFF_ID);
        let mut rootfs = base.as_ref().map(|(_, c)| c.rootfs.clone()).unwrap_or_else(RootFs::default);
        if let Some(l) = &layer {
            rootfs.diff_ids.push(l.diff_id.clone());
            if chain_ids(&rootfs.diff_ids).last() != Some(&l.chain_id) {
                return Err(ImageError::InvalidInput(format!(
                    "layer {} is not on top of the parent image's layers",
                    l.chain_id
                )));
            }
            if !self.layers.exists(&l.chain_id) {
                return Err(ImageError::NotFound(format!("layer {} does not exist", l.chain_id)));
            }
        }
        let created = now();
        let mut history = base.as_ref().map(|(_, c)| c.history.clone()).unwrap_or_default();
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(child.created_by).filter(|s| !s.is_empty()),
            author: child.author.clone().filter(|s| !s.is_empty()),
            comment: child.comment.filter(|s| !s.is_empty()),
            empty_layer: layer.is_none(),
        });
        let pc = base.as_ref().map(|(_, c)| c);
        let config = ImageConfig {
            architecture: pc
                .map(|c| c.architecture.clone())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| host_architecture().into()),
            variant: pc.and_then(|c| c.variant.clone()),
            os: pc.map(|c| c.os.clone()).filter(|o| !o.is_empty()).unwrap_or_else(|| "linux".into()),
            created: Some(created),
            author: child.author.filter(|s| !s.is_empty()),
            container: child.container.clone(),
            container_config: container_config.filter(|_| child.container.is_some()),
            config: child.config,
            rootfs,
            history,
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Other(e.to_string()))?;
        let id = sha256_digest(&bytes);
        if let Some((pid, _)) = &base {
            let record = super::child::parents_dir(self.data_root()).join(hex_part(&id));
            berth_proto::fsutil::write_atomic(&record, pid.as_bytes())
                .ctx(|| format!("recording the parent of {id}"))?;
            self.write_state().parents.insert(id.clone(), pid.clone());
        }
        berth_proto::crashpoint::hit("commit.after-parent");
        berth_proto::crashpoint::hit("commit.before-image");
        let made = self.commit_bytes_locked(config, &bytes, reference.into_iter().collect());
        if made.is_err() {
            let _ = fs::remove_file(super::child::parents_dir(self.data_root()).join(hex_part(&id)));
            self.write_state().parents.remove(&id);
        }
        let id = made?;
        berth_proto::crashpoint::hit("commit.after-image");
        if let Some(chain) = empty {
            // Docker's empty layer is in no image's rootfs: it goes unless something uses it.
            self.sweep_layers(vec![chain])?;
        }
        Ok(id)
    }

    /// The recorded parent of an image (None for pulled, loaded and imported images, and when
    /// the parent is no longer in the store).
    pub fn parent(&self, id: &str) -> Option<ImageId> {
        let st = self.read_state();
        let id = Self::resolve_id(&st, id).ok()?;
        st.parents.get(&id).filter(|p| st.images.contains_key(*p)).cloned()
    }

    /// The images whose recorded parent is `id`.
    pub fn children(&self, id: &str) -> Vec<ImageId> {
        let st = self.read_state();
        Self::children_of(&st, id)
    }

    pub(crate) fn children_of(st: &State, id: &str) -> Vec<ImageId> {
        st.parents.iter().filter(|(c, p)| *p == id && st.images.contains_key(*c)).map(|(c, _)| c.clone()).collect()
    }

    /// The ids of the images that are some image's parent (Docker hides the untagged ones from
    /// `docker images` without `-a`).
    pub fn parents_of_children(&self) -> std::collections::HashSet<ImageId> {
        let st = self.read_state();
        st.parents.iter().filter(|(c, _)| st.images.contains_key(*c)).map(|(_, p)| p.clone()).collect()
    }

    /// Forgets the parent record of an image being removed.
    pub(super) fn forget_parent(&self, id: &str) -> Result<(), ImageError> {
        self.write_state().parents.remove(id);
        let record = parents_dir(self.data_root()).join(hex_part(id));
        match fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).ctx(|| format!("removing {}", record.display()))
            }
            _ => Ok(()),
        }
    }
}
