//! The build context: the client's tar (plain or compressed) unpacked into a private directory
//! under the data-root for the time of the build, or a bare Dockerfile. Unpacking goes through
//! the image store's safe extraction, so a hostile context writes nothing outside its directory.

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A Dockerfile bigger than this is refused (dockerd reads it whole too).
const MAX_DOCKERFILE: u64 = 16 << 20;

/// The unpacked context; removed when dropped.
pub(super) struct Context {
    pub(super) dir: PathBuf,
    /// The body was a Dockerfile, not an archive.
    bare: Option<String>,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing the build context {}: {e}", self.dir.display());
            }
        }
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

/// Reads the whole body: an archive is unpacked, anything else is the Dockerfile itself.
pub(super) async fn receive(d: &Arc<Daemon>, body: impl Read + Send + 'static) -> Result<Context, EngineError> {
    let dir = scratch(d, "ctx")?;
    let target = dir.clone();
    let bare = tokio::task::spawn_blocking(move || -> Result<Option<String>, EngineError> {
        let mut body = body;
        let mut head = Vec::with_capacity(512);
        (&mut body).take(512).read_to_end(&mut head)?;
        if head.is_empty() || !looks_like_archive(&head) {
            let mut text = head;
            body.take(MAX_DOCKERFILE).read_to_end(&mut text)?;
            return Ok(Some(String::from_utf8_lossy(&text).into_owned()));
        }
        berth_image::extract_copy(Cursor::new(head).chain(body), &target, None).map_err(|e| match e {
            berth_image::ImageError::InvalidInput(m) => EngineError::invalid(format!("invalid build context: {m}")),
            other => other.into(),
        })?;
        Ok(None)
    })
    .await?;
    let bare = match bare {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    Ok(Context { dir, bare })
}

impl Context {
    /// The Dockerfile's text. As dockerd does, a `.dockerignore` that names the Dockerfile or
    /// itself takes them out of the context once read (clients send both regardless).
    pub(super) async fn dockerfile(&self, name: &str) -> Result<String, EngineError> {
        if let Some(text) = &self.bare {
            return Ok(text.clone());
        }
        let name = if name.is_empty() { "Dockerfile".to_string() } else { name.to_string() };
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || read_dockerfile(&dir, &name)).await?
    }
}

fn read_dockerfile(dir: &Path, name: &str) -> Result<String, EngineError> {
    let clean = name.trim_start_matches("./");
    let open = |n: &str| berth_image::open_in_root(dir, n, true);
    // dockerd falls back to `dockerfile` when the default name is missing.
    let src = match open(clean) {
        Ok(s) => s,
        Err(_) if clean == "Dockerfile" => open("dockerfile").map_err(|_| missing(name))?,
        Err(_) => return Err(missing(name)),
    };
    if src.is_dir() {
        return Err(missing(name));
    }
    let mut text = String::new();
    std::fs::File::open(src.proc_path())?
        .take(MAX_DOCKERFILE)
        .read_to_string(&mut text)
        .map_err(|e| EngineError::invalid(format!("reading the Dockerfile {name}: {e}")))?;
    if let Ok(ign) = std::fs::read_to_string(dir.join(".dockerignore")) {
        let ign = berth_dockerfile::Ignore::parse(&ign).map_err(|e| EngineError::invalid(e.to_string()))?;
        for own in [clean, ".dockerignore"] {
            // Only a name at the top: `dir.join` of a deeper path could pass through a symlink
            // the client put in its context, and unlink a host file.
            let top = !own.contains('/') && own != ".." && own != ".";
            if top && ign.is_excluded(own) {
                if let Ok(s) = berth_image::open_in_root(dir, own, false) {
                    if !s.is_dir() {
                        let _ = std::fs::remove_file(dir.join(own));
                    }
                }
            }
        }
    }
    Ok(text)
}

fn missing(name: &str) -> EngineError {
    EngineError::invalid(format!("Cannot locate specified Dockerfile: {name}"))
}
