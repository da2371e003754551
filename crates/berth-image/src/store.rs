//! The image store: configs as content-addressed blobs (`image/blobs/sha256/<hex>`, the image id
//! being the sha256 of those bytes), tags in `image/repositories.json`, layers in the layer store.

use crate::changes::apply_changes;
use crate::config::{host_architecture, ContainerConfig, History, ImageConfig, RootFs};
use crate::digest::{chain_ids, hex_part, is_full_hex, sha256_digest};
use crate::error::{ImageError, IoContext};
use crate::layers::{LayerInfo, LayerStore};
use crate::reference::{is_digest_reference, normalize_digest_reference, normalize_reference, repository_of};
use berth_proto::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// `sha256:<64 hex>`.
pub type ImageId = String;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag to give the image, e.g. `busybox:latest` (tag `latest` if none).
    pub reference: Option<String>,
    /// Dockerfile-like instructions (`CMD`, `ENV`, ...), see [`crate::apply_changes`].
    pub changes: Vec<String>,
    /// Commit message; Docker's default is `Imported from -`.
    pub message: Option<String>,
}

/// What the daemon knows about an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: ImageId,
    /// Familiar `name:tag` references, sorted.
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` of the manifests it was pulled or pushed as.
    pub repo_digests: Vec<String>,
    /// RFC 3339, from the config.
    pub created: String,
    /// Sum of the layers' sizes.
    pub size: u64,
    pub config: ImageConfig,
    /// Chain ids of the layers, lowest first.
    pub chain_ids: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl ImageInfo {
    /// `created` as Unix seconds (0 if unparsable).
    pub fn created_unix(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.created).map(|t| t.timestamp()).unwrap_or(0)
    }
}

/// A container that uses an image, as the daemon reports it to [`ImageStore::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUse {
    pub id: String,
    pub running: bool,
}

/// One line of Docker's `DELETE /images/{name}` answer; serializes as `{"Untagged": "..."}` or
/// `{"Deleted": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

#[derive(Default, Serialize, Deserialize)]
struct RepoFile {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

struct Image {
    config: ImageConfig,
    chain_ids: Vec<String>,
    size: u64,
}

#[derive(Default)]
pub(crate) struct State {
    images: BTreeMap<ImageId, Arc<Image>>,
    /// familiar `name:tag` -> image id
    pub(crate) refs: BTreeMap<String, ImageId>,
    /// child image id -> its parent's (`image/parent/`, see `store/child.rs`).
    pub(crate) parents: BTreeMap<ImageId, ImageId>,
}

pub struct ImageStore {
    data_root: PathBuf,
    blobs: PathBuf,
    repos_file: PathBuf,
    layers: LayerStore,
    state: RwLock<State>,
    /// Serializes every change (tags, blobs, layer publication and deletion).
    write: Mutex<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `data_root`; sweeps layers no image or
    /// container references (left by a crash between steps).
    pub fn open(data_root: &Path) -> Result<ImageStore, ImageError> {
        fs::create_dir_all(data_root).ctx(|| format!("creating {}", data_root.display()))?;
        // Layer paths end up in mount options and in drivers' records: keep one spelling.
        let data_root = &fs::canonicalize(data_root).ctx(|| format!("resolving {}", data_root.display()))?;
        let blobs = data_root.join("image").join("blobs").join("sha256");
        // Owner-only, as Docker's image store: configs carry the images' environment.
        fsutil::create_dir_mode(&blobs, 0o700).ctx(|| format!("creating {}", blobs.display()))?;
        let layers = LayerStore::open(data_root)?;
        // Spooled loads and downloads a dead daemon left: nothing refers to them.
        for e in fs::read_dir(data_root.join("image")).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        let repos_file = data_root.join("image").join("repositories.json");
        let store = ImageStore {
            data_root: data_root.to_path_buf(),
            blobs,
            repos_file,
            layers,
            state: RwLock::new(State::default()),
            write: Mutex::new(()),
        };
        let mut state = State::default();
        for e in fs::read_dir(&store.blobs).ctx(|| "reading blobs".into())?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_full_hex(&name) {
                continue;
            }
            let Ok(bytes) = fs::read(e.path()) else {
                continue;
            };
            match serde_json::from_slice::<ImageConfig>(&bytes) {
                Ok(config) => {
                    let img = store.image_from_config(config);
                    state.images.insert(format!("sha256:{name}"), Arc::new(img));
                }
                Err(err) => {
                    tracing::warn!(blob = %name, error = %err, "blob is not an image config")
                }
            }
        }
        let repos: RepoFile = fsutil::read_json(&store.repos_file)
            .ctx(|| format!("reading {}", store.repos_file.display()))?
            .unwrap_or_default();
        for (_, tags) in repos.repositories {
            for (r, id) in tags {
                if state.images.contains_key(&id) {
                    state.refs.insert(r, id);
                }
            }
        }
        child::load_parents(&child::parents_dir(data_root), &mut state)?;
        *store.state.write().unwrap() = state;
        {
            let _g = store.write.lock().unwrap();
            store.sweep_layers(store.layers.list())?;
        }
        Ok(store)
    }

    fn image_from_config(&self, config: ImageConfig) -> Image {
        let chain_ids = chain_ids(&config.rootfs.diff_ids);
        let size = chain_ids
            .iter()
            .map(|c| match self.layers.get(c) {
                Ok(l) => l.size,
                Err(e) => {
                    tracing::warn!(layer = %c, error = %e, "image layer missing");
                    0
                }
            })
            .sum();
        Image { config, chain_ids, size }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `docker import`: the rootfs tarball read from `r` (plain or gzip) becomes a one-layer
    /// image. Changes and reference are checked before anything is read.
    pub fn import(&self, r: impl Read, opts: ImportOptions) -> Result<ImageId, ImageError> {
        let mut cc = ContainerConfig::default();
        apply_changes(&mut cc, &opts.changes)?;
        let reference = opts.reference.as_deref().map(normalize_reference).transpose()?;
        let prepared = self.layers.prepare(r, None)?;
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let message = opts.message.filter(|m| !m.is_empty()).unwrap_or_else(|| "Imported from -".into());
        let config = ImageConfig {
            architecture: host_architecture().into(),
            os: "linux".into(),
            created: Some(created.clone()),
            comment: Some(message.clone()),
            config: cc,
            rootfs: RootFs { kind: "layers".into(), diff_ids: vec![prepared.info.diff_id.clone()] },
            history: vec![History { created: Some(created), comment: Some(message), ..Default::default() }],
            ..Default::default()
        };
        let _g = self.lock();
        self.layers.commit(prepared)?;
        berth_proto::crashpoint::hit("import.after-layer");
        self.commit_locked(config, reference)
    }

    /// Extracts a layer on top of `parent` (a chain id) into the layer store. Layers no image
    /// references are swept at the next `open`, so make an image of it with
    /// [`ImageStore::create_image`] soon.
    /// [`ImageStore::add_layer`] without the sync to disk: for several layers of one image, then
    /// [`ImageStore::sync`] once before the image is created.
    pub fn add_layer_unsynced(&self, r: impl Read, parent: Option<&str>) -> Result<LayerInfo, ImageError> {
        let prepared = self.layers.prepare_with(r, parent, false)?;
        let _g = self.lock();
        self.layers.commit(prepared)
    }

    /// Everything written to the store's filesystem reaches the disk.
    pub fn sync(&self) -> Result<(), ImageError> {
        let fd = fs::File::open(&self.data_root).ctx(|| "opening the data root".into())?;
        rustix::fs::syncfs(&fd).ctx(|| "syncfs".into())
    }

    pub fn add_layer(&self, r: impl Read, parent: Option<&str>) -> Result<LayerInfo, ImageError> {
        let prepared = self.layers.prepare(r, parent)?;
        let _g = self.lock();
        self.layers.commit(prepared)
    }

    /// Stores `config` as an image (its layers, `rootfs.diff_ids`, must exist) and tags it.
    pub fn create_image(&self, config: ImageConfig, reference: Option<&str>) -> Result<ImageId, ImageError> {
        let reference = reference.map(normalize_reference).transpose()?;
        let _g = self.lock();
        for c in chain_ids(&config.rootfs.diff_ids) {
            if !self.layers.exists(&c) {
                return Err(ImageError::NotFound(format!("layer {c} does not exist")));
            }
        }
        self.commit_locked(config, reference)
    }

    fn commit_locked(&self, config: ImageConfig, reference: Option<String>) -> Result<ImageId, ImageError> {
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Other(e.to_string()))?;
        self.commit_bytes_locked(config, &bytes, reference.into_iter().collect())
    }

    /// Stores `bytes` (the config `config` was parsed from) as they are: the image id is their
    /// digest, so an image loaded from an archive keeps the id it had where it was saved.
    pub(crate) fn commit_bytes_locked(
        &self,
        config: ImageConfig,
        bytes: &[u8],
        references: Vec<String>,
    ) -> Result<ImageId, ImageError> {
        let id = sha256_digest(bytes);
        let blob = self.blobs.join(hex_part(&id));
        if !blob.exists() {
            fsutil::write_atomic(&blob, bytes).ctx(|| format!("writing {}", blob.display()))?;
        }
        let img = Arc::new(self.image_from_config(config));
        let mut st = self.state_mut();
        st.images.insert(id.clone(), img);
        if !references.is_empty() {
            for r in references {
                st.refs.insert(r, id.clone());
            }
            self.save_refs(&st)?;
        }
        Ok(id)
    }

    /// Stores an image from its config's exact bytes (a pull: the registry's config blob, whose
    /// digest is the image id), tagged with `references`. Its layers must be in the store.
    pub fn create_image_from_bytes(&self, bytes: &[u8], references: &[String]) -> Result<ImageId, ImageError> {
        let config: ImageConfig = serde_json::from_slice(bytes)
            .map_err(|e| ImageError::InvalidInput(format!("invalid image config: {e}")))?;
        let refs = references.iter().map(|r| normalize_reference(r)).collect::<Result<Vec<_>, _>>()?;
        let _g = self.lock();
        for c in chain_ids(&config.rootfs.diff_ids) {
            if !self.layers.exists(&c) {
                return Err(ImageError::NotFound(format!("layer {c} does not exist")));
            }
        }
        self.commit_bytes_locked(config, bytes, refs)
    }

    /// Whether the layer with this chain id is in the store.
    pub fn has_layer(&self, chain_id: &str) -> bool {
        self.layers.exists(chain_id)
    }

    /// The layer's tarball as imported: its length, and a writer of its bytes that checks them
    /// against the diff id.
    #[allow(clippy::type_complexity)] // an `impl FnOnce` has no stable alias
    pub fn layer_tarball(
        &self,
        chain_id: &str,
    ) -> Result<(u64, impl FnOnce(&mut dyn std::io::Write) -> Result<(), ImageError>), ImageError> {
        self.layers.tarball(chain_id)
    }

    /// The config blob of an image, byte for byte.
    pub fn config_bytes(&self, id: &str) -> Result<Vec<u8>, ImageError> {
        let blob = self.blobs.join(hex_part(id));
        fs::read(&blob).ctx(|| format!("reading {}", blob.display()))
    }

    pub(crate) fn save_refs(&self, st: &State) -> Result<(), ImageError> {
        let mut file = RepoFile::default();
        for (r, id) in &st.refs {
            file.repositories.entry(repository_of(r).to_string()).or_default().insert(r.clone(), id.clone());
        }
        fsutil::write_json_atomic(&self.repos_file, &file).ctx(|| format!("writing {}", self.repos_file.display()))
    }

    fn info(st: &State, id: &str, img: &Image) -> ImageInfo {
        ImageInfo {
            id: id.to_string(),
            repo_tags: st
                .refs
                .iter()
                .filter(|(k, v)| *v == id && !is_digest_reference(k))
                .map(|(k, _)| k.clone())
                .collect(),
            repo_digests: st
                .refs
                .iter()
                .filter(|(k, v)| *v == id && is_digest_reference(k))
                .map(|(k, _)| k.clone())
                .collect(),
            created: img.config.created.clone().unwrap_or_default(),
            size: img.size,
            config: img.config.clone(),
            chain_ids: img.chain_ids.clone(),
            labels: img.config.config.labels.clone().unwrap_or_default(),
        }
    }

    /// Every image, newest first.
    pub fn list(&self) -> Vec<ImageInfo> {
        let st = self.state();
        let mut out: Vec<ImageInfo> = st.images.iter().map(|(id, img)| Self::info(&st, id, img)).collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        out
    }

    /// Finds an image as Docker does: `name[:tag]`, `sha256:<id>`, a full hex id, or a unique
    /// prefix of one. Not found, or an ambiguous prefix, is Docker's `No such image: <ref>`.
    pub fn resolve(&self, reference: &str) -> Result<ImageInfo, ImageError> {
        let st = self.state();
        let id = Self::resolve_id(&st, reference)?;
        Ok(Self::info(&st, &id, &st.images[&id]))
    }

    pub(crate) fn resolve_id(st: &State, reference: &str) -> Result<ImageId, ImageError> {
        let not_found = || {
            let shown = if let Some(h) = reference.strip_prefix("sha256:") {
                format!("sha256:{h}")
            } else if is_full_hex(reference) {
                format!("sha256:{reference}")
            } else {
                normalize_reference(reference).unwrap_or_else(|_| reference.to_string())
            };
            ImageError::no_such_image(&shown)
        };
        if reference.contains('@') {
            let name = normalize_digest_reference(reference)?;
            return st.refs.get(&name).cloned().ok_or_else(|| ImageError::no_such_image(&name));
        }
        let hexpart = reference.strip_prefix("sha256:");
        if hexpart.is_none() && !is_full_hex(reference) {
            if let Ok(name) = normalize_reference(reference) {
                if let Some(id) = st.refs.get(&name) {
                    return Ok(id.clone());
                }
            } else if !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(normalize_reference(reference).unwrap_err());
            }
        }
        let prefix = hexpart.unwrap_or(reference);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(not_found());
        }
        let mut matches = st.images.keys().filter(|id| hex_part(id).starts_with(prefix));
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id.clone()),
            _ => Err(not_found()),
        }
    }

    /// `docker tag`: `target` (normalized, tag `latest` by default) now names `source`'s image.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let target = normalize_reference(target)?;
        let _g = self.lock();
        let mut st = self.state_mut();
        let id = Self::resolve_id(&st, source)?;
        st.refs.insert(target, id);
        self.save_refs(&st)
    }

    /// Records that `repository` at the manifest `digest` is this image (`RepoDigests`), as a
    /// pull or a push learns it.
    pub fn add_repo_digest(&self, id: &str, repository: &str, digest: &str) -> Result<String, ImageError> {
        let name = normalize_digest_reference(&format!("{repository}@{digest}"))?;
        let _g = self.lock();
        let mut st = self.state_mut();
        if !st.images.contains_key(id) {
            return Err(ImageError::no_such_image(id));
        }
        st.refs.insert(name.clone(), id.to_string());
        self.save_refs(&st)?;
        Ok(name)
    }

    /// The image's config.
    pub fn config(&self, reference: &str) -> Result<ImageConfig, ImageError> {
        Ok(self.resolve(reference)?.config)
    }

    /// The image's layer diff dirs, lowest first (what storage drivers stack).
    pub fn layer_dirs(&self, reference: &str) -> Result<Vec<PathBuf>, ImageError> {
        let info = self.resolve(reference)?;
        info.chain_ids.iter().map(|c| self.layers.get(c).map(|l| l.diff_dir)).collect()
    }

    /// A layer by chain id.
    pub fn layer(&self, chain_id: &str) -> Result<LayerInfo, ImageError> {
        self.layers.get(chain_id)
    }

    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// Deletes those of `candidates` (chain ids, top first) that no image and no overlay2 container
    /// uses (a used layer's parents are used too, as both list whole chains). Returns the deleted.
    pub(crate) fn sweep_layers(&self, candidates: Vec<String>) -> Result<Vec<String>, ImageError> {
        let st = self.state();
        let used_by_images: std::collections::HashSet<&String> =
            st.images.values().flat_map(|i| i.chain_ids.iter()).collect();
        let candidates: Vec<String> = candidates.into_iter().filter(|c| !used_by_images.contains(c)).collect();
        // Reading every container's lower.json costs a file per container (1000 at start-up with
        // 1000 containers, before the API answers): only done when an image does not keep a
        // candidate anyway, which at start-up is the rare case of a layer left by a crash.
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let used_by_containers = crate::driver::layers_in_use(&self.data_root);
        let mut deleted = Vec::new();
        for c in candidates {
            if used_by_containers.contains(&self.layers.layer_dir(&c).join("diff")) {
                continue;
            }
            self.layers.delete(&c)?;
            deleted.push(c);
        }
        Ok(deleted)
    }

    pub(crate) fn remove_image_locked(&self, id: &str) -> Result<Vec<String>, ImageError> {
        let img = {
            let mut st = self.state_mut();
            st.refs.retain(|_, v| v != id);
            self.save_refs(&st)?;
            st.images.remove(id)
        };
        let blob = self.blobs.join(hex_part(id));
        if blob.exists() {
            fs::remove_file(&blob).ctx(|| format!("removing {}", blob.display()))?;
        }
        // After the blob: a crash in between leaves a record of no image, swept at open.
        self.forget_parent(id)?;
        match img {
            Some(img) => self.sweep_layers(img.chain_ids.iter().rev().cloned().collect()),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn lock_for_remove(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock()
    }

    pub(crate) fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state()
    }

    pub(crate) fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state_mut()
    }
}

mod archive;
mod child;
mod remove;

pub use archive::{HistoryItem, LoadProgress};
pub use child::ChildImage;
