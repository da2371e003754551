//! Safe extraction of a layer tarball (plain or gzip) into overlayfs format, computing its diff id
//! (sha256 of the uncompressed stream) in the same pass.

use crate::digest::HashingReader;
use crate::error::{ImageError, IoContext};
use crate::safe::{clean_entry_path, Meta, SafeRoot};
use crate::tarsplit::Recorder;
use rustix::fs::FileType;
use std::ffi::OsString;
use std::io::{self, Cursor, Read};
use std::path::{Component, Path, PathBuf};

/// What extracting a layer found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// `sha256:<hex>` of the uncompressed tar stream.
    pub diff_id: String,
    /// Sum of regular file sizes, as Docker reports a layer's size.
    pub size: u64,
}

/// Wraps `r` in the decompressor its magic bytes call for (gzip, zstd; bzip2 and xz are
/// refused).
pub fn decompress<'a>(mut r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut magic = Vec::with_capacity(6);
    (&mut r).take(6).read_to_end(&mut magic).ctx(|| "reading the archive".into())?;
    let head = Cursor::new(magic.clone()).chain(r);
    let compression = match magic.as_slice() {
        [0x1f, 0x8b, ..] => return Ok(Box::new(flate2::read::MultiGzDecoder::new(head))),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => "xz",
        [b'B', b'Z', b'h', ..] => "bzip2",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => return Ok(Box::new(Zstd::new(head)?)),
        _ => return Ok(Box::new(head)),
    };
    Err(ImageError::InvalidInput(format!("unsupported compression: {compression}")))
}

/// A zstd stream of one or more frames (the format allows several back to back).
struct Zstd<R: Read> {
    dec: Option<ruzstd::decoding::StreamingDecoder<io::BufReader<R>, ruzstd::decoding::FrameDecoder>>,
}

impl<R: Read> Zstd<R> {
    fn new(r: R) -> Result<Self, ImageError> {
        let dec = ruzstd::decoding::StreamingDecoder::new(io::BufReader::new(r))
            .map_err(|e| ImageError::InvalidInput(format!("invalid zstd stream: {e}")))?;
        Ok(Zstd { dec: Some(dec) })
    }
}

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This frame is done: another may follow.
            let mut src = self.dec.take().expect("decoder").into_inner();
            if io::BufRead::fill_buf(&mut src)?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(
                ruzstd::decoding::StreamingDecoder::new(src)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid zstd frame: {e}")))?,
            );
        }
    }
}

/// Extracts the layer tarball read from `r` (plain, gzip or zstd) into the existing directory `dest`,
/// in overlayfs format: OCI whiteouts `.wh.<name>` become character devices 0/0 and
/// `.wh..wh..opq` marks its directory `trusted.overlay.opaque=y`.
///
/// Nothing is ever written outside `dest`: `..` in a path, a symlink whose target climbs out
/// of the root, a hard link to anything outside, and a path that goes through a symlink are all
/// refused with `ImageError::InvalidInput`. Absolute paths are taken relative to `dest`.
pub fn extract_layer(r: impl Read, dest: &Path) -> Result<LayerStats, ImageError> {
    extract_recorded(r, dest, None)
}

/// [`extract_layer`], keeping what `docker save` needs to write the same tarball again in
/// `split` (see [`crate::tarsplit`]).
pub(crate) fn extract_recorded(r: impl Read, dest: &Path, split: Option<&Path>) -> Result<LayerStats, ImageError> {
    let rec = split.map(Recorder::create).transpose()?;
    let stream: Box<dyn Read> = match &rec {
        Some(rec) => Box::new(rec.wrap(decompress(r)?)),
        None => decompress(r)?,
    };
    let mut hr = HashingReader::new(stream);
    let mut root = SafeRoot::open(dest)?;
    let mut size = 0u64;
    {
        let mut ar = tar::Archive::new(&mut hr);
        for entry in ar.entries().map_err(tar_err)? {
            let mut e = entry.map_err(tar_err)?;
            if let Some(rec) = &rec {
                let kind = e.header().entry_type();
                if matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) && e.size() > 0 {
                    let rel = clean_entry_path(&e.path().map_err(tar_err)?)?;
                    rec.file(e.raw_file_position(), e.size(), &rel)?;
                }
            }
            size += apply_entry(&mut root, &mut e, &Mode::LAYER)?;
        }
    }
    // The diff id covers the whole stream, trailing zero blocks included.
    io::copy(&mut hr, &mut io::sink()).ctx(|| "reading the archive".into())?;
    root.finish()?;
    let diff_id = hr.finish();
    if let Some(rec) = rec {
        rec.finish()?;
    }
    Ok(LayerStats { diff_id, size })
}

/// `docker cp` into a container: the archive read from `r` (plain or gzip) lands in `dest` as
/// is (`.wh.` names are ordinary files here), owned by `owner` when given (Docker's default,
/// the container's root) or as archived (`cp -a`). The same refusals as [`extract_layer`]:
/// nothing is written outside `dest`. Returns the bytes of file content written.
pub fn extract_copy(r: impl Read, dest: &Path, owner: Option<(u32, u32)>) -> Result<u64, ImageError> {
    let mut root = SafeRoot::open(dest)?;
    let mut size = 0u64;
    let mode = Mode { whiteouts: false, owner };
    let mut ar = tar::Archive::new(decompress(r)?);
    for entry in ar.entries().map_err(tar_err)? {
        let mut e = entry.map_err(tar_err)?;
        size += apply_entry(&mut root, &mut e, &mode)?;
    }
    // Tar writers pad past the end blocks (to 10 KiB records): read it all, so that a client
    // still sending the padding is not cut off by the answer.
    io::copy(&mut ar.into_inner(), &mut io::sink()).ctx(|| "reading the archive".into())?;
    root.finish()?;
    Ok(size)
}

/// How entries are applied: as an image layer (whiteouts to overlayfs form, owners as archived)
/// or as a copy.
struct Mode {
    whiteouts: bool,
    owner: Option<(u32, u32)>,
}

impl Mode {
    const LAYER: Mode = Mode { whiteouts: true, owner: None };
}

fn tar_err(e: io::Error) -> ImageError {
    ImageError::InvalidInput(format!("invalid tar archive: {e}"))
}

fn meta_of<R: Read>(e: &mut tar::Entry<R>) -> Result<Meta, ImageError> {
    let h = e.header();
    let mut m = Meta {
        uid: h.uid().map_err(tar_err)? as u32,
        gid: h.gid().map_err(tar_err)? as u32,
        mode: h.mode().map_err(tar_err)? & 0o7777,
        mtime: (h.mtime().map_err(tar_err)? as i64, 0),
        xattrs: Vec::new(),
    };
    if let Some(exts) = e.pax_extensions().map_err(tar_err)? {
        for ext in exts {
            let ext = ext.map_err(tar_err)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                m.xattrs.push((OsString::from(name), ext.value_bytes().to_vec()));
            } else if key == "uid" {
                m.uid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(m.uid);
            } else if key == "gid" {
                m.gid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(m.gid);
            }
        }
    }
    Ok(m)
}

/// Docker's rule: a relative symlink target, resolved lexically from the link's directory, must
/// stay inside the root. Absolute targets are relative to the container's root anyway.
fn check_symlink(rel: &Path, target: &Path) -> Result<(), ImageError> {
    if target.is_absolute() {
        return Ok(());
    }
    let mut depth = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(ImageError::InvalidInput(format!(
                "invalid symlink {:?} -> {:?}: points outside the layer",
                rel, target
            )));
        }
    }
    Ok(())
}

/// Applies one entry; returns the bytes of regular file content written.
fn apply_entry<R: Read>(root: &mut SafeRoot, e: &mut tar::Entry<R>, mode: &Mode) -> Result<u64, ImageError> {
    use tar::EntryType as T;
    let kind = e.header().entry_type();
    if matches!(kind, T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink) {
        return Ok(0);
    }
    let raw = e.path().map_err(tar_err)?.into_owned();
    let rel = clean_entry_path(&raw)?;
    let mut m = meta_of(e)?;
    if let Some((uid, gid)) = mode.owner {
        (m.uid, m.gid) = (uid, gid);
    }

    if let Some(name) = rel.file_name().and_then(|n| n.to_str()).filter(|_| mode.whiteouts) {
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
            if hidden == ".wh..opq" {
                root.set_opaque(&parent)?;
            } else if hidden.starts_with(".wh.") || hidden.is_empty() {
                // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): meaningless for overlayfs.
            } else {
                root.whiteout(&parent.join(hidden), &m)?;
            }
            return Ok(0);
        }
    }

    if rel.as_os_str().is_empty() && kind != T::Directory {
        return Err(ImageError::InvalidInput(format!("invalid entry {:?}: not a directory", raw)));
    }
    match kind {
        T::Regular | T::Continuous | T::GNUSparse => root.write_file(&rel, e, &m),
        T::Directory => root.mkdir(&rel, &m).map(|_| 0),
        T::Symlink => {
            let target: PathBuf = e
                .link_name()
                .map_err(tar_err)?
                .ok_or_else(|| ImageError::InvalidInput(format!("symlink {rel:?} without target")))?
                .into_owned();
            check_symlink(&rel, &target)?;
            root.symlink(&rel, &target, &m).map(|_| 0)
        }
        T::Link => {
            let target = e
                .link_name()
                .map_err(tar_err)?
                .ok_or_else(|| ImageError::InvalidInput(format!("hard link {rel:?} without target")))?
                .into_owned();
            let target = clean_entry_path(&target)?;
            if target.as_os_str().is_empty() {
                return Err(ImageError::InvalidInput(format!("invalid hard link {rel:?} to the root")));
            }
            root.hardlink(&rel, &target).map(|_| 0)
        }
        T::Char | T::Block | T::Fifo => {
            let h = e.header();
            let major = h.device_major().map_err(tar_err)?.unwrap_or(0);
            let minor = h.device_minor().map_err(tar_err)?.unwrap_or(0);
            let ft = match kind {
                T::Char => FileType::CharacterDevice,
                T::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            root.mknod(&rel, ft, rustix::fs::makedev(major, minor), &m).map(|_| 0)
        }
        other => {
            tracing::warn!(path = ?rel, kind = ?other, "skipping unsupported tar entry");
            Ok(0)
        }
    }
}
