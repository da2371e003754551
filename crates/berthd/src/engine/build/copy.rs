//! COPY, ADD and WORKDIR: files written into a scratch rootfs of the current image (storage of
//! the configured driver, no container record, swept at the next start if a crash leaves it),
//! whose changes become the step's layer. Destinations are resolved inside that rootfs
//! (`RESOLVE_IN_ROOT`), so an image's symlinks lead where they lead in a container and never out.

use super::dispatch::{commit, probe, step_key};
use super::sources::{self, Item, Meta, Sum};
use super::stage::{Build, State};
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use berth_dockerfile::CopyArgs;
use berth_image::StorageDriver;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A container-less rootfs of an image, for one step.
pub(super) struct Scratch {
    driver: Arc<dyn StorageDriver>,
    id: String,
    pub rootfs: PathBuf,
    pub layers: Vec<PathBuf>,
    /// The image's top chain id (the new layer's parent).
    pub chain: Option<String>,
}

impl Scratch {
    pub(super) fn new(d: &Daemon, image: Option<&str>) -> Result<Scratch, EngineError> {
        let driver = d.driver(&d.config().storage_driver)?;
        let (layers, chain) = match image {
            Some(i) => (d.images.layer_dirs(i)?, d.images.resolve(i)?.chain_ids.last().cloned()),
            None => (Vec::new(), None),
        };
        let id = format!("build-{:016x}", rand::random::<u64>());
        let opts = berth_image::CreateOpts { ephemeral: true, idmap: None };
        driver.create_with(&id, &layers, &opts)?;
        let rootfs = match driver.mount(&id) {
            Ok(r) => r,
            Err(e) => {
                let _ = driver.remove(&id);
                return Err(e.into());
            }
        };
        Ok(Scratch { driver, id, rootfs, layers, chain })
    }

    /// The layer of what was written here.
    pub(super) fn layer(&self, d: &Daemon) -> Result<berth_image::LayerInfo, EngineError> {
        Ok(d.images.layer_from_container(self.driver.as_ref(), &self.id, &self.layers, self.chain.as_deref())?)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = self.driver.remove(&self.id) {
            tracing::warn!("removing the build's scratch storage {}: {e}", self.id);
        }
    }
}

/// Where the files of a COPY come from.
enum Root {
    Context(PathBuf),
    Image(Scratch),
    Empty(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Context(p) | Root::Empty(p) => p,
            Root::Image(s) => &s.rootfs,
        }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Root::Empty(p) = self {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

async fn source_root(b: &Build<'_>, from: Option<&str>) -> Result<Root, EngineError> {
    let Some(from) = from else {
        let ctx = b.ctx;
        return Ok(Root::Context(tokio::task::block_in_place(|| ctx.materialize())?));
    };
    let lower = from.to_lowercase();
    let stage = match lower.parse::<usize>() {
        Ok(i) => b.stages.get(i).map(|(_, img)| img.clone()),
        Err(_) => b.stages.iter().rev().find(|(n, _)| n.as_deref() == Some(lower.as_str())).map(|(_, i)| i.clone()),
    };
    let image = match stage {
        Some(img) => img,
        None => Some(super::run::base_image(b, from).await?),
    };
    match image {
        None => Ok(Root::Empty(super::context::scratch(b.d, "empty")?)),
        Some(img) => {
            let d = b.d.clone();
            Ok(Root::Image(tokio::task::spawn_blocking(move || Scratch::new(&d, Some(&img))).await??))
        }
    }
}

/// What one COPY/ADD will write, decided before anything is.
struct Plan {
    items: Vec<Item>,
    dest: String,
    meta: Meta,
    chown: bool,
    add: bool,
}

/// The sources and their checksum from the context's index, when it can answer for them.
fn from_index(b: &Build<'_>, srcs: &[String], chmod: Option<u32>) -> Option<Result<(Vec<Item>, String), EngineError>> {
    if b.ctx.index.tricky || b.ctx.index.nodes.is_empty() {
        return None;
    }
    let mut items = Vec::new();
    for src in srcs {
        match sources::matches_index(&b.ctx.index, src) {
            Ok(found) => items.extend(found),
            Err(e) => return Some(Err(e)),
        }
    }
    let mut sum = Sum::new();
    for it in &items {
        sum.add_index(&b.ctx.index, it, chmod);
    }
    Some(Ok((items, sum.finish())))
}

/// The sources and their checksum read from a root on disk.
async fn from_disk(root: &Root, srcs: Vec<String>, chmod: Option<u32>) -> Result<(Vec<Item>, String), EngineError> {
    let root_path = root.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut items = Vec::new();
        for src in &srcs {
            items.extend(sources::matches(&root_path, src)?);
        }
        let mut sum = Sum::new();
        for it in &items {
            sum.add_disk(&root_path, it, chmod)?;
        }
        Ok((items, sum.finish()))
    })
    .await?
}

pub(super) async fn copy(b: &mut Build<'_>, s: &mut State, a: &CopyArgs, add: bool) -> Result<(), EngineError> {
    let verb = if add { "ADD" } else { "COPY" };
    let mut srcs = Vec::new();
    for w in &a.sources {
        let src = s.expand(w)?;
        if add && (src.starts_with("http://") || src.starts_with("https://")) {
            return Err(EngineError::invalid(format!(
                "ADD of a URL ({src}) is not supported by Berth's builder: download it into the context and COPY it"
            )));
        }
        srcs.push(src);
    }
    let mut dest = s.expand(&a.dest)?;
    if !dest.starts_with('/') {
        let wd = if s.config.working_dir.is_empty() { "/" } else { s.config.working_dir.as_str() };
        let trailing = dest.ends_with('/') || dest == "." || dest.is_empty();
        dest = format!("{}/{}", wd.trim_end_matches('/'), dest);
        if trailing && !dest.ends_with('/') {
            dest.push('/');
        }
    }
    let from = a.from.as_deref().map(|f| s.expand(f)).transpose()?;
    let chown_spec = a.chown.as_deref().map(|c| s.expand(c)).transpose()?;
    let mode = a.chmod.as_deref().map(sources::chmod).transpose()?;
    // A warm build answers from the context's index: nothing is unpacked or mounted for a hit.
    let indexed = if from.is_none() { from_index(b, &srcs, mode) } else { None };
    let (mut root, (items, checksum)) = match indexed {
        Some(r) => (None, r?),
        None => {
            let root = source_root(b, from.as_deref()).await?;
            let found = from_disk(&root, srcs.clone(), mode).await?;
            (Some(root), found)
        }
    };
    if items.len() > 1 && !dest.ends_with('/') {
        return Err(EngineError::invalid(format!(
            "When using {verb} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let kind = match items.as_slice() {
        [one] if one.is_dir => "dir",
        [_] => "file",
        _ => "multi",
    };
    let created_by = format!("{} #(nop) {verb} {kind}:{checksum} in {dest} ", s.shell().join(" "));
    let key = step_key(s, &created_by, &format!("chown={chown_spec:?} chmod={mode:?}"));
    if probe(b, s, &key) {
        return Ok(());
    }
    let root = match root.take() {
        Some(r) => r,
        None => source_root(b, None).await?,
    };
    let d = b.d.clone();
    let image = s.image.clone();
    let layer = tokio::task::spawn_blocking(move || -> Result<berth_image::LayerInfo, EngineError> {
        let target = Scratch::new(&d, image.as_deref())?;
        let (uid, gid) = match &chown_spec {
            Some(c) => sources::chown(&target.rootfs, c)?,
            None => (0, 0),
        };
        let plan = Plan { items, dest, meta: Meta { uid, gid, mode }, chown: chown_spec.is_some(), add };
        for it in &plan.items {
            write_item(&target.rootfs, root.path(), it, &plan)?;
        }
        drop(root);
        let layer = target.layer(&d)?;
        berth_proto::crashpoint::hit("build.after-layer");
        Ok(layer)
    })
    .await??;
    commit(b, s, created_by, &key, Some(layer)).await
}

/// Writes one matched source under the plan's destination, as Docker places it: a directory's
/// content into the destination, a file into it when it is a directory (or ends in `/`), else
/// as it; a local archive given to ADD unpacked into the destination directory.
fn write_item(rootfs: &Path, root: &Path, it: &Item, plan: &Plan) -> Result<(), EngineError> {
    let dest = plan.dest.as_str();
    let into_dir = dest.ends_with('/')
        || it.is_dir
        || berth_image::open_in_root(rootfs, dest, true).is_ok_and(|s| s.is_dir())
        || plan.items.len() > 1;
    let base = Path::new(&it.rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (dir, name) = if into_dir {
        (dest.trim_end_matches('/').to_string(), if it.is_dir { String::new() } else { base })
    } else {
        let p = Path::new(dest);
        let parent = p.parent().map(|x| x.display().to_string()).unwrap_or_else(|| "/".into());
        (parent, p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    };
    let dest_dir = ensure_dir(rootfs, &dir, plan.meta)?;
    let dir_path = dest_dir.proc_path();
    if plan.add && !it.is_dir {
        let src = berth_image::open_in_root(root, &it.rel, true)?;
        let mut f = std::fs::File::open(src.proc_path())?;
        let mut head = [0u8; 512];
        let n = std::io::Read::read(&mut f, &mut head)?;
        if n > 0 && super::context::looks_like_archive(&head[..n]) {
            let f = std::fs::File::open(src.proc_path())?;
            let owner = plan.chown.then_some((plan.meta.uid, plan.meta.gid));
            berth_image::extract_copy(f, &dir_path, owner)?;
            return Ok(());
        }
    }
    let (mut rd, wr) = std::io::pipe()?;
    let (root2, it2, meta) = (root.to_path_buf(), it.clone(), plan.meta);
    let packer = std::thread::spawn(move || -> Result<(), EngineError> {
        let mut tb = tar::Builder::new(wr);
        sources::pack(&mut tb, &root2, &it2, Path::new(&name), meta)?;
        tb.into_inner()?;
        Ok(())
    });
    let extracted = berth_image::extract_copy(&mut rd, &dir_path, None);
    // Unblocks the packer if the extraction stopped early.
    drop(rd);
    let packed = packer.join().map_err(|_| EngineError::internal("the COPY packer panicked"))?;
    extracted?;
    packed
}

/// `dir` inside the rootfs, created (0755, the step's owner) where missing; opened (its
/// `/proc` path is good while this lives).
fn ensure_dir(rootfs: &Path, dir: &str, meta: Meta) -> Result<berth_image::Source, EngineError> {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut have = parts.len();
    let mut base = loop {
        let prefix = parts[..have].join("/");
        match berth_image::open_in_root(rootfs, &prefix, true) {
            Ok(s) if s.is_dir() => break s,
            Ok(_) => return Err(EngineError::invalid(format!("cannot copy to {dir}: /{prefix} is not a directory"))),
            Err(_) if have > 0 => have -= 1,
            Err(e) => return Err(e.into()),
        }
    };
    if have < parts.len() {
        let mut tb = tar::Builder::new(Vec::new());
        let mut name = PathBuf::new();
        for p in &parts[have..] {
            name.push(p);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_uid(meta.uid.into());
            h.set_gid(meta.gid.into());
            h.set_size(0);
            tb.append_data(&mut h, &name, std::io::empty())?;
        }
        let bytes = tb.into_inner()?;
        berth_image::extract_copy(bytes.as_slice(), &base.proc_path(), None)?;
        base = berth_image::open_in_root(rootfs, dir, true)?;
    }
    Ok(base)
}

/// WORKDIR: the directory is made in the image when it is not there, as dockerd does.
pub(super) async fn workdir(b: &mut Build<'_>, s: &mut State, w: &str) -> Result<(), EngineError> {
    let w = s.expand(w)?;
    let path =
        if w.starts_with('/') { w.clone() } else { format!("{}/{w}", s.config.working_dir.trim_end_matches('/')) };
    let path = format!("/{}", sources::clean(&path).unwrap_or_default());
    s.config.working_dir = path.clone();
    let created_by = format!("{} #(nop) WORKDIR {path}", s.shell().join(" "));
    let key = step_key(s, &created_by, "");
    if probe(b, s, &key) {
        return Ok(());
    }
    let d = b.d.clone();
    let image = s.image.clone();
    let layer = tokio::task::spawn_blocking(move || -> Result<Option<berth_image::LayerInfo>, EngineError> {
        let target = Scratch::new(&d, image.as_deref())?;
        if berth_image::open_in_root(&target.rootfs, &path, true).is_ok_and(|s| s.is_dir()) {
            return Ok(None);
        }
        ensure_dir(&target.rootfs, &path, Meta::default())?;
        Ok(Some(target.layer(&d)?))
    })
    .await??;
    commit(b, s, created_by, &key, layer).await
}
