//! The build context: the client's tar (plain or compressed) spooled (`spool`: in memory, or in
//! a private directory under the data-root past the daemon's budget) for the time of the build
//! and indexed as it streams in (`index`), or a bare Dockerfile. The tree is unpacked only when a
//! step needs its files, through the image store's safe extraction, so a hostile context writes
//! nothing outside its directory.

use super::index::{Index, Node, Tee};
use super::spool::Spool;
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A Dockerfile bigger than this is refused (dockerd reads it whole too).
const MAX_DOCKERFILE: u64 = 16 << 20;

/// The received context; its directory goes when dropped.
pub(super) struct Context {
    dir: PathBuf,
    /// The body was a Dockerfile, not an archive.
    bare: Option<String>,
    pub(super) index: Index,
    /// The decompressed tar (none for a bare Dockerfile).
    spool: Option<Spool>,
    /// Top-level files a `.dockerignore` takes out once read.
    forgotten: Vec<String>,
    unpacked: Mutex<bool>,
}

impl Drop for Context {
    fn drop(&mut self) {
        // Off the build's path: the answer does not wait for the unlinks.
        let dir = std::mem::take(&mut self.dir);
        std::thread::spawn(move || {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("removing the build context {}: {e}", dir.display());
                }
            }
        });
    }
}

pub(super) fn builder_dir(d: &Daemon) -> PathBuf {
    d.config().data_root.join("builder")
}

fn tmp_dir(d: &Daemon) -> PathBuf {
    builder_dir(d).join("tmp")
}

/// Contexts and scratch roots of builds a crash cut short: older than this daemon (a build
/// may already be running beside the restore).
pub(super) fn sweep(d: &Daemon) {
    let dir = tmp_dir(d);
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < d.booted) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A fresh private directory for one build's files.
pub(super) fn scratch(d: &Daemon, what: &str) -> Result<PathBuf, EngineError> {
    let base = tmp_dir(d);
    berth_proto::fsutil::create_dir_mode(&builder_dir(d), berth_proto::fsutil::modes::PRIVATE_DIR)?;
    berth_proto::fsutil::create_dir_mode(&base, berth_proto::fsutil::modes::PRIVATE_DIR)?;
    let dir = base.join(format!("{what}-{:016x}", rand::random::<u64>()));
    berth_proto::fsutil::create_dir_mode(&dir, berth_proto::fsutil::modes::PRIVATE_DIR)?;
    Ok(dir)
}

/// Whether the first bytes are an archive: a compression magic or a tar header.
pub(super) fn looks_like_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [&[0x1f, 0x8b], b"BZh", &[0xfd, b'7', b'z', b'X', b'Z', 0], &[0x28, 0xb5, 0x2f, 0xfd]];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    head.len() >= 263 && &head[257..262] == b"ustar" || head.len() == 512 && tar_checksum_ok(head)
}

/// A v7 tar header has no magic; its checksum field still has to add up.
fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else {
        return false;
    };
    let sum: u32 = h.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { *b as u32 }).sum();
    sum == want
}

/// Reads the whole body: an archive is spooled and indexed, anything else is the Dockerfile.
pub(super) async fn receive(d: &Arc<Daemon>, body: impl Read + Send + 'static) -> Result<Context, EngineError> {
    let dir = scratch(d, "ctx")?;
    let spool_path = dir.join("context.tar");
    let got = tokio::task::spawn_blocking(move || -> Result<(Option<String>, Index, Option<Spool>), EngineError> {
        let mut body = body;
        let mut head = Vec::with_capacity(512);
        (&mut body).take(512).read_to_end(&mut head)?;
        if head.is_empty() || !looks_like_archive(&head) {
            let mut text = head;
            body.take(MAX_DOCKERFILE).read_to_end(&mut text)?;
            return Ok((Some(String::from_utf8_lossy(&text).into_owned()), Index::default(), None));
        }
        let plain = berth_image::decompress(Cursor::new(head).chain(body))
            .map_err(|e| EngineError::invalid(format!("invalid build context: {e}")))?;
        let mut tee = Tee { inner: plain, spool: Spool::new(spool_path) };
        let t = std::time::Instant::now();
        let ix = Index::read(&mut tee)?;
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            files = ix.nodes.len(),
            bytes = tee.spool.len(),
            "build context indexed"
        );
        Ok((None, ix, Some(tee.spool)))
    })
    .await?;
    match got {
        Ok((bare, index, spool)) => {
            Ok(Context { dir, bare, index, spool, forgotten: Vec::new(), unpacked: Mutex::new(false) })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

impl Context {
    /// Where the unpacked tree is (after [`Context::materialize`]).
    pub(super) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Unpacks the context once, for steps that need its files.
    pub(super) fn materialize(&self) -> Result<PathBuf, EngineError> {
        let mut done = self.unpacked.lock().unwrap_or_else(|e| e.into_inner());
        let root = self.root();
        if !*done {
            berth_proto::fsutil::create_dir_mode(&root, berth_proto::fsutil::modes::PRIVATE_DIR)?;
            if let Some(spool) = &self.spool {
                let f = std::io::BufReader::with_capacity(1 << 20, spool.reader_at(0));
                berth_image::extract_copy(f, &root, None).map_err(|e| match e {
                    berth_image::ImageError::InvalidInput(m) => {
                        EngineError::invalid(format!("invalid build context: {m}"))
                    }
                    other => other.into(),
                })?;
            }
            // Top-level names only: `join` of a deeper path could pass a symlink of the client's.
            for f in &self.forgotten {
                let _ = std::fs::remove_file(root.join(f));
            }
            *done = true;
        }
        Ok(root)
    }

    /// The bytes of a regular file of the context.
    fn read_file(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, EngineError> {
        let Some(Node::File { size, offset, .. }) = self.index.get(rel).cloned() else {
            return Ok(None);
        };
        if size > limit {
            return Err(EngineError::invalid(format!("{rel} is too big ({size} bytes)")));
        }
        let Some(spool) = &self.spool else { return Ok(None) };
        let mut v = Vec::with_capacity(size as usize);
        spool.reader_at(offset).take(size).read_to_end(&mut v)?;
        Ok(Some(v))
    }

    /// The Dockerfile's text. As dockerd does, a `.dockerignore` that names the Dockerfile or
    /// itself takes them out of the context once read (clients send both regardless).
    pub(super) async fn dockerfile(&mut self, name: &str) -> Result<String, EngineError> {
        if let Some(text) = &self.bare {
            return Ok(text.clone());
        }
        let name = if name.is_empty() { "Dockerfile".to_string() } else { name.to_string() };
        let clean = super::sources::clean(&name).map_err(|_| missing(&name))?;
        let text = match self.read_file(&clean, MAX_DOCKERFILE)? {
            Some(t) => t,
            None if clean == "Dockerfile" => {
                self.read_file("dockerfile", MAX_DOCKERFILE)?.ok_or_else(|| missing(&name))?
            }
            None if self.index.tricky => self.read_unpacked(&clean)?.ok_or_else(|| missing(&name))?,
            None => return Err(missing(&name)),
        };
        if let Some(ign) = self.read_file(".dockerignore", MAX_DOCKERFILE)? {
            let ign = berth_dockerfile::Ignore::parse(&String::from_utf8_lossy(&ign))
                .map_err(|e| EngineError::invalid(e.to_string()))?;
            for own in [clean.as_str(), ".dockerignore"] {
                if !own.contains('/') && ign.is_excluded(own) {
                    self.index.forget(own);
                    self.forgotten.push(own.to_string());
                }
            }
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// A Dockerfile reached through a link of the context: read from the unpacked tree.
    fn read_unpacked(&self, rel: &str) -> Result<Option<Vec<u8>>, EngineError> {
        let root = self.materialize()?;
        let Ok(src) = berth_image::open_in_root(&root, rel, true) else { return Ok(None) };
        if src.is_dir() {
            return Ok(None);
        }
        let mut v = Vec::new();
        std::fs::File::open(src.proc_path())?.take(MAX_DOCKERFILE).read_to_end(&mut v)?;
        Ok(Some(v))
    }
}

fn missing(name: &str) -> EngineError {
    EngineError::invalid(format!("Cannot locate specified Dockerfile: {name}"))
}
