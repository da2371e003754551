//! Byte-exact layer tarballs without keeping them: while a layer is extracted, everything of its
//! uncompressed stream except file contents (headers, padding, the end blocks) is kept in a
//! small gzip'd side file, with a reference to the extracted file where content was. `docker
//! save` replays it, so the layer it writes has the very diff id the image config names (and
//! the image keeps its id on another host).
//!
//! Format: a sequence of `R <u32 len> <bytes>` (raw stream bytes) and
//! `F <u64 size> <u16 len> <path>` (that many bytes from the file at `path` in the diff dir).

use crate::error::{ImageError, IoContext};
use flate2::write::GzEncoder;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

/// File name of the side file in a layer's directory.
pub(crate) const FILE: &str = "tar-split.gz";

struct State {
    out: GzEncoder<BufWriter<File>>,
    pending: Vec<u8>,
    skip: u64,
    pos: u64,
}

impl State {
    fn flush_raw(&mut self) -> io::Result<()> {
        for chunk in self.pending.chunks(u32::MAX as usize) {
            self.out.write_all(b"R")?;
            self.out.write_all(&(chunk.len() as u32).to_le_bytes())?;
            self.out.write_all(chunk)?;
        }
        self.pending.clear();
        Ok(())
    }
}

/// Records the stream passing through [`Recording`] readers.
#[derive(Clone)]
pub(crate) struct Recorder(Rc<RefCell<State>>);

pub(crate) struct Recording<R> {
    inner: R,
    rec: Recorder,
}

impl Recorder {
    pub(crate) fn create(path: &Path) -> Result<Recorder, ImageError> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .ctx(|| format!("creating {}", path.display()))?;
        let out = GzEncoder::new(BufWriter::new(f), flate2::Compression::fast());
        Ok(Recorder(Rc::new(RefCell::new(State { out, pending: Vec::new(), skip: 0, pos: 0 }))))
    }

    pub(crate) fn wrap<R: Read>(&self, inner: R) -> Recording<R> {
        Recording { inner, rec: self.clone() }
    }

    /// The next `size` bytes of the stream, starting at `pos`, are the content of `rel`.
    pub(crate) fn file(&self, pos: u64, size: u64, rel: &Path) -> Result<(), ImageError> {
        let mut s = self.0.borrow_mut();
        if s.pos != pos {
            return Err(ImageError::Other(format!("tar stream at {} where {rel:?} starts at {pos}", s.pos)));
        }
        let name = rel.as_os_str().as_bytes();
        let len = u16::try_from(name.len()).map_err(|_| ImageError::InvalidInput(format!("path too long: {rel:?}")))?;
        let res = s.flush_raw().and_then(|_| {
            s.out.write_all(b"F")?;
            s.out.write_all(&size.to_le_bytes())?;
            s.out.write_all(&len.to_le_bytes())?;
            s.out.write_all(name)
        });
        s.skip = size;
        res.ctx(|| "writing the tar split".into())
    }

    pub(crate) fn finish(self) -> Result<(), ImageError> {
        let state = Rc::try_unwrap(self.0).map_err(|_| ImageError::Other("tar split still in use".into()))?;
        let mut s = state.into_inner();
        s.flush_raw().ctx(|| "writing the tar split".into())?;
        let w = s.out.finish().ctx(|| "writing the tar split".into())?;
        w.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).ctx(|| "writing the tar split".into())
    }
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.rec.0.borrow_mut();
        let skipped = s.skip.min(n as u64) as usize;
        s.skip -= skipped as u64;
        s.pending.extend_from_slice(&buf[skipped..n]);
        s.pos += n as u64;
        if s.pending.len() >= 1 << 20 {
            s.flush_raw()?;
        }
        Ok(n)
    }
}

enum Segment {
    Raw(Vec<u8>),
    File(u64, std::path::PathBuf),
}

fn segments(split: &Path) -> Result<impl Iterator<Item = io::Result<Segment>>, ImageError> {
    let f = File::open(split).ctx(|| format!("opening {}", split.display()))?;
    let mut r = BufReader::new(flate2::read::GzDecoder::new(f));
    Ok(std::iter::from_fn(move || {
        let mut tag = [0u8; 1];
        match r.read(&mut tag) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e)),
        }
        let mut next = || -> io::Result<Segment> {
            match tag[0] {
                b'R' => {
                    let mut len = [0u8; 4];
                    r.read_exact(&mut len)?;
                    let mut data = vec![0u8; u32::from_le_bytes(len) as usize];
                    r.read_exact(&mut data)?;
                    Ok(Segment::Raw(data))
                }
                b'F' => {
                    let (mut size, mut len) = ([0u8; 8], [0u8; 2]);
                    r.read_exact(&mut size)?;
                    r.read_exact(&mut len)?;
                    let mut name = vec![0u8; u16::from_le_bytes(len) as usize];
                    r.read_exact(&mut name)?;
                    Ok(Segment::File(u64::from_le_bytes(size), std::ffi::OsStr::from_bytes(&name).into()))
                }
                _ => Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt tar split")),
            }
        };
        Some(next())
    }))
}

/// The length of the tarball [`write_tar`] writes.
pub(crate) fn tar_len(split: &Path) -> Result<u64, ImageError> {
    let mut total = 0;
    for seg in segments(split)? {
        total += match seg.ctx(|| format!("reading {}", split.display()))? {
            Segment::Raw(d) => d.len() as u64,
            Segment::File(size, _) => size,
        };
    }
    Ok(total)
}

/// Writes the layer's original tarball, the files' content read from `diff`.
pub(crate) fn write_tar(split: &Path, diff: &Path, w: &mut dyn Write) -> Result<(), ImageError> {
    for seg in segments(split)? {
        match seg.ctx(|| format!("reading {}", split.display()))? {
            Segment::Raw(d) => w.write_all(&d).ctx(|| "writing a layer".into())?,
            Segment::File(size, rel) => {
                let p = diff.join(&rel);
                let f = File::open(&p).ctx(|| format!("opening {}", p.display()))?;
                // Exactly `size` bytes, whatever happened to the file: a wrong digest is caught
                // by the caller rather than a stream of the wrong length.
                let mut r = f.take(size).chain(io::repeat(0)).take(size);
                io::copy(&mut r, w).ctx(|| format!("reading {}", p.display()))?;
            }
        }
    }
    Ok(())
}
