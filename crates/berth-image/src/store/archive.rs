//! `docker save`, `docker load` and `docker history`. A saved archive is both Docker's format
//! (`manifest.json`) and an OCI image layout (`index.json`, `oci-layout`, `blobs/`), as dockerd
//! 25+ writes it; layers are the very tarballs that were imported (see `tarsplit`), so the
//! image keeps its id. `load` reads either format, and Docker's older one.

use super::{ImageId, ImageStore};
use crate::config::{host_architecture, ImageConfig};
use crate::digest::{chain_id, hex_part, sha256_digest};
use crate::error::{ImageError, IoContext};
use crate::reference::normalize_reference;
use crate::safe::clean_entry_path;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// One line of `docker history`, newest first.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// What `load` reports as it goes.
#[derive(Debug, Clone)]
pub enum LoadProgress {
    /// A layer is being read in: (diff id, bytes read so far, its length in the archive); sent
    /// at its start, every MiB, and at its end.
    Layer(String, u64, u64),
    /// An image is in the store, with its tags.
    Loaded(ImageId, Vec<String>),
}

/// `docker.io/library/busybox:latest` for `busybox:latest`, as containerd names images.
fn full_name(familiar: &str) -> String {
    let first = familiar.split('/').next().unwrap_or("");
    if !familiar.contains('/') {
        format!("docker.io/library/{familiar}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        familiar.to_string()
    } else {
        format!("docker.io/{familiar}")
    }
}

fn tar_err(e: std::io::Error) -> ImageError {
    ImageError::InvalidInput(format!("invalid tar archive: {e}"))
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<(), ImageError> {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).ctx(|| format!("writing {name}"))
}

impl ImageStore {
    /// `docker history`: the config's history entries, each with the size of the layer it made.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryItem>, ImageError> {
        let info = self.resolve(reference)?;
        let mut layers = info.chain_ids.iter();
        let mut out = Vec::new();
        for h in &info.config.history {
            let size = if h.empty_layer {
                0
            } else {
                layers.next().and_then(|c| self.layers.get(c).ok()).map(|l| l.size).unwrap_or(0)
            };
            out.push(HistoryItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        // As dockerd: the top row is the image, each next row its parent's, until an image
        // has no recorded parent (the rest stay `<missing>`).
        let mut image = Some(info);
        for row in out.iter_mut() {
            let Some(img) = image.take() else { break };
            row.id = img.id.clone();
            row.tags = img.repo_tags.clone();
            image = self.parent(&img.id).and_then(|p| self.resolve(&p).ok());
        }
        Ok(out)
    }

    /// `docker save` of `references` (names or ids) to `w`.
    pub fn save(&self, references: &[String], w: impl Write) -> Result<(), ImageError> {
        // Image id -> the tags asked for (none when asked by id, as Docker).
        let mut wanted: BTreeMap<ImageId, Vec<String>> = BTreeMap::new();
        for r in references {
            let info = self.resolve(r)?;
            let tags = wanted.entry(info.id.clone()).or_default();
            if let Ok(name) = normalize_reference(r) {
                if info.repo_tags.contains(&name) && !tags.contains(&name) {
                    tags.push(name);
                }
            }
        }
        let mut b = tar::Builder::new(w);
        append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut written: HashSet<String> = HashSet::new();
        let (mut manifest_json, mut index) = (Vec::new(), Vec::new());
        for (id, tags) in &wanted {
            let info = self.resolve(id)?;
            let config = self.config_bytes(id)?;
            let mut layer_descs = Vec::new();
            let mut layer_paths = Vec::new();
            for (chain, diff_id) in info.chain_ids.iter().zip(&info.config.rootfs.diff_ids) {
                let (len, write) = self.layers.tarball(chain)?;
                let path = format!("blobs/sha256/{}", hex_part(diff_id));
                if written.insert(path.clone()) {
                    let mut h = tar::Header::new_ustar();
                    h.set_path(&path).ctx(|| "naming a layer".into())?;
                    h.set_mode(0o644);
                    h.set_size(len);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_cksum();
                    // Streamed straight from the layer store: no copy of the layer is made.
                    let out = b.get_mut();
                    out.write_all(h.as_bytes()).ctx(|| "writing the archive".into())?;
                    write(out)?;
                    let pad = (512 - len % 512) % 512;
                    out.write_all(&vec![0u8; pad as usize]).ctx(|| "writing the archive".into())?;
                }
                layer_descs.push(
                    json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff_id, "size": len}),
                );
                layer_paths.push(path);
            }
            let config_path = format!("blobs/sha256/{}", hex_part(id));
            if written.insert(config_path.clone()) {
                append_bytes(&mut b, &config_path, &config)?;
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": config.len()},
                "layers": layer_descs,
            }))
            .map_err(|e| ImageError::Other(e.to_string()))?;
            let mdigest = sha256_digest(&manifest);
            let mpath = format!("blobs/sha256/{}", hex_part(&mdigest));
            if written.insert(mpath.clone()) {
                append_bytes(&mut b, &mpath, &manifest)?;
            }
            let desc = |annotations: Value| json!({"mediaType": OCI_MANIFEST, "digest": mdigest, "size": manifest.len(), "annotations": annotations});
            if tags.is_empty() {
                index.push(desc(json!({})));
            }
            for t in tags {
                let tag = t.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
                index.push(desc(
                    json!({"io.containerd.image.name": full_name(t), "org.opencontainers.image.ref.name": tag}),
                ));
            }
            manifest_json.push(
                json!({"Config": config_path, "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) }, "Layers": layer_paths}),
            );
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
        append_bytes(&mut b, "index.json", &serde_json::to_vec(&index).unwrap_or_default())?;
        append_bytes(&mut b, "manifest.json", &serde_json::to_vec(&manifest_json).unwrap_or_default())?;
        b.finish().ctx(|| "writing the archive".into())
    }

    /// `docker load`: every image of a Docker or OCI archive read from `r`. Layers are verified
    /// against the config's diff ids before the image exists; a failed load leaves no image.
    pub fn load(
        &self,
        r: impl Read,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Result<Vec<(ImageId, Vec<String>)>, ImageError> {
        let tmp = Spool::new(&self.data_root)?;
        let files = tmp.read(r)?;
        let images = if files.has("manifest.json") { files.docker_manifest()? } else { files.oci_index()? };
        if images.is_empty() {
            return Err(ImageError::InvalidInput(
                "no images in the archive (neither manifest.json nor index.json)".into(),
            ));
        }
        let mut loaded = Vec::new();
        for img in images {
            let bytes = fs::read(files.path(&img.config)?).ctx(|| "reading the image config".into())?;
            let config: ImageConfig = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::InvalidInput(format!("invalid image config {}: {e}", img.config)))?;
            if config.rootfs.diff_ids.len() != img.layers.len() {
                return Err(ImageError::InvalidInput(format!(
                    "image config names {} layers, the manifest {}",
                    config.rootfs.diff_ids.len(),
                    img.layers.len()
                )));
            }
            let mut parent: Option<String> = None;
            for (layer, want) in img.layers.iter().zip(&config.rootfs.diff_ids) {
                let chain = chain_id(parent.as_deref(), want);
                if !self.layers.exists(&chain) {
                    let p = files.path(layer)?;
                    let total = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    progress(LoadProgress::Layer(want.clone(), 0, total));
                    let f = File::open(&p).ctx(|| format!("opening {layer}"))?;
                    let counted = Counting {
                        inner: f,
                        read: 0,
                        next: 1 << 20,
                        tell: &mut |n| progress(LoadProgress::Layer(want.clone(), n, total)),
                    };
                    let info = self.add_layer_unsynced(counted, parent.as_deref())?;
                    progress(LoadProgress::Layer(want.clone(), total, total));
                    if &info.diff_id != want {
                        return Err(ImageError::InvalidInput(format!(
                            "invalid diffID for layer {layer}: expected {want}, got {}",
                            info.diff_id
                        )));
                    }
                }
                parent = Some(chain);
            }
            let tags = img.tags.iter().map(|t| normalize_reference(t)).collect::<Result<Vec<_>, _>>()?;
            // The layers reach the disk before the image that refers to them exists.
            self.sync()?;
            let id = {
                let _g = self.lock();
                self.commit_bytes_locked(config, &bytes, tags.clone())?
            };
            progress(LoadProgress::Loaded(id.clone(), tags.clone()));
            loaded.push((id, tags));
        }
        Ok(loaded)
    }
}

/// Tells how far a read has come, every MiB.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    next: u64,
    tell: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next {
            (self.tell)(self.read);
            self.next = self.read + (1 << 20);
        }
        Ok(n)
    }
}

/// An image as an archive describes it: paths inside the archive.
struct ArchivedImage {
    config: String,
    layers: Vec<String>,
    tags: Vec<String>,
}

/// The archive's regular files, spooled to a private directory (removed on drop); symlinks are
/// only remembered, never created, and followed within the archive's names.
struct Spool {
    dir: PathBuf,
    files: BTreeMap<String, PathBuf>,
    links: BTreeMap<String, String>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Spool {
    fn new(data_root: &Path) -> Result<Spool, ImageError> {
        let dir = data_root.join("image").join(format!(".tmp-load-{:016x}", rand::random::<u64>()));
        berth_proto::fsutil::create_dir_mode(&dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
        Ok(Spool { dir, files: BTreeMap::new(), links: BTreeMap::new() })
    }

    fn read(mut self, r: impl Read) -> Result<Spool, ImageError> {
        let mut ar = tar::Archive::new(crate::extract::decompress(r)?);
        for (n, entry) in ar.entries().map_err(tar_err)?.enumerate() {
            let mut e = entry.map_err(tar_err)?;
            let name = clean_entry_path(&e.path().map_err(tar_err)?)?.display().to_string();
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let p = self.dir.join(n.to_string());
                    let mut f = File::create(&p).ctx(|| format!("spooling {name}"))?;
                    std::io::copy(&mut e, &mut f).map_err(tar_err)?;
                    self.files.insert(name, p);
                }
                tar::EntryType::Symlink => {
                    let target = e.link_name().map_err(tar_err)?.map(|t| t.display().to_string()).unwrap_or_default();
                    let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                    let joined = if target.starts_with('/') { PathBuf::from(&target) } else { base.join(&target) };
                    self.links.insert(name, lexical(&joined));
                }
                _ => {}
            }
        }
        // Padding after the end blocks: read to the end so the client is never cut off.
        std::io::copy(&mut ar.into_inner(), &mut std::io::sink()).map_err(tar_err)?;
        Ok(self)
    }

    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The spooled file an archive path names, through the archive's own symlinks.
    fn path(&self, name: &str) -> Result<PathBuf, ImageError> {
        let mut cur = lexical(Path::new(name));
        for _ in 0..16 {
            if let Some(p) = self.files.get(&cur) {
                return Ok(p.clone());
            }
            match self.links.get(&cur) {
                Some(next) => cur = next.clone(),
                None => break,
            }
        }
        Err(ImageError::InvalidInput(format!("the archive has no file {name}")))
    }

    fn json(&self, name: &str) -> Result<Value, ImageError> {
        let bytes = fs::read(self.path(name)?).ctx(|| format!("reading {name}"))?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidInput(format!("invalid {name}: {e}")))
    }

    fn docker_manifest(&self) -> Result<Vec<ArchivedImage>, ImageError> {
        let v = self.json("manifest.json")?;
        let items = v.as_array().ok_or_else(|| ImageError::InvalidInput("invalid manifest.json: not a list".into()))?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        items
            .iter()
            .map(|it| {
                let config = it["Config"]
                    .as_str()
                    .ok_or_else(|| ImageError::InvalidInput("invalid manifest.json: no Config".into()))?;
                Ok(ArchivedImage {
                    config: config.to_string(),
                    layers: strings(&it["Layers"]),
                    tags: strings(&it["RepoTags"]),
                })
            })
            .collect()
    }

    fn blob(digest: &str) -> Result<String, ImageError> {
        let (alg, hex) =
            digest.split_once(':').ok_or_else(|| ImageError::InvalidInput(format!("invalid digest {digest}")))?;
        Ok(format!("blobs/{alg}/{hex}"))
    }

    fn oci_index(&self) -> Result<Vec<ArchivedImage>, ImageError> {
        let index = self.json("index.json")?;
        let mut out = Vec::new();
        for desc in index["manifests"].as_array().cloned().unwrap_or_default() {
            let annotations = &desc["annotations"];
            let tag = annotations["io.containerd.image.name"]
                .as_str()
                .or_else(|| {
                    annotations["org.opencontainers.image.ref.name"]
                        .as_str()
                        .filter(|r| r.contains(':') || r.contains('/'))
                })
                .map(String::from);
            let manifest = self.pick_platform(&desc)?;
            let layers = manifest["layers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|l| Self::blob(l["digest"].as_str().unwrap_or("")))
                .collect::<Result<Vec<_>, _>>()?;
            let config = Self::blob(manifest["config"]["digest"].as_str().unwrap_or(""))?;
            out.push(ArchivedImage { config, layers, tags: tag.into_iter().collect() });
        }
        Ok(out)
    }

    /// The manifest a descriptor leads to; through an index, the one for this host's platform.
    fn pick_platform(&self, desc: &Value) -> Result<Value, ImageError> {
        let mut doc = self.json(&Self::blob(desc["digest"].as_str().unwrap_or(""))?)?;
        for _ in 0..4 {
            let mt = doc["mediaType"].as_str().unwrap_or("");
            if mt != OCI_INDEX && mt != DOCKER_LIST && doc.get("manifests").is_none() {
                return Ok(doc);
            }
            let arch = host_architecture();
            let pick = doc["manifests"]
                .as_array()
                .and_then(|ms| {
                    ms.iter().find(|m| m["platform"]["architecture"] == arch && m["platform"]["os"] == "linux").cloned()
                })
                .ok_or_else(|| ImageError::NotFound(format!("no image for linux/{arch} in the archive")))?;
            doc = self.json(&Self::blob(pick["digest"].as_str().unwrap_or(""))?)?;
        }
        Err(ImageError::InvalidInput("image indexes nested too deep".into()))
    }
}

/// `a/./b/../c` as `a/c`; never above the archive's root.
fn lexical(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.join("/")
}
