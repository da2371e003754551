//! Tar archives of trees a container may be changing under us (`docker cp` out, `docker export`):
//! the start is resolved inside the root with `RESOLVE_IN_ROOT`, and the walk goes from directory
//! fds with `O_NOFOLLOW`, so a symlink swapped in mid-walk can never make the daemon read a host
//! file.

use crate::error::{ImageError, IoContext};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What `HEAD /containers/{id}/archive` reports of a path; the daemon sends it as berth-api's
/// `PathStat` (Docker's `X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, as the docker CLI decodes them.
    pub mode: u32,
    pub mtime: String,
    pub link_target: String,
}

/// The path `inner` (as the container sees it) under `root`: its final component is not followed.
pub struct Source {
    fd: OwnedFd,
    stat: Stat,
    name: String,
    link_target: Option<PathBuf>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> ImageError {
    let context = context.into();
    move |e| {
        let source: io::Error = e.into();
        if source.kind() == io::ErrorKind::NotFound {
            ImageError::NotFound(format!("Could not find the file {context} in container"))
        } else {
            ImageError::Io { context, source }
        }
    }
}

/// Opens `inner` inside `root` with every symlink on the way resolved as if `root` were `/`.
/// With `follow`, a symlink at the end is followed too (still inside `root`).
pub fn open_in_root(root: &Path, inner: &str, follow: bool) -> Result<Source, ImageError> {
    let rootfd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io_err(root.display().to_string()))?;
    let rel = inner.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rfs::openat2(&rootfd, rel, flags, Mode::empty(), ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS)
        .map_err(io_err(inner.to_string()))?;
    let stat = rfs::fstat(&fd).map_err(io_err(inner.to_string()))?;
    let link_target = match FileType::from_raw_mode(stat.st_mode) {
        FileType::Symlink => Some(PathBuf::from(OsStr::from_bytes(
            rfs::readlinkat(&fd, "", Vec::new()).map_err(io_err(inner.to_string()))?.as_bytes(),
        ))),
        _ => None,
    };
    let name = Path::new(inner).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
    Ok(Source { fd, stat, name, link_target })
}

impl Source {
    pub fn is_dir(&self) -> bool {
        FileType::from_raw_mode(self.stat.st_mode) == FileType::Directory
    }

    /// A directory fd usable for `*at` calls and for [`crate::extract_copy`] through
    /// `/proc/self/fd`.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    pub fn stat(&self) -> PathStat {
        let perm = self.stat.st_mode & 0o777;
        // Go's FileMode: type bits high, setuid/setgid/sticky in their own bits.
        let mut mode = perm;
        match FileType::from_raw_mode(self.stat.st_mode) {
            FileType::Directory => mode |= 1 << 31,
            FileType::Symlink => mode |= 1 << 27,
            FileType::Fifo => mode |= 1 << 25,
            FileType::Socket => mode |= 1 << 24,
            FileType::CharacterDevice => mode |= (1 << 26) | (1 << 21),
            FileType::BlockDevice => mode |= 1 << 26,
            _ => {}
        }
        if self.stat.st_mode & 0o4000 != 0 {
            mode |= 1 << 23;
        }
        if self.stat.st_mode & 0o2000 != 0 {
            mode |= 1 << 22;
        }
        if self.stat.st_mode & 0o1000 != 0 {
            mode |= 1 << 20;
        }
        let mtime = chrono::DateTime::from_timestamp(self.stat.st_mtime, self.stat.st_mtime_nsec as u32)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        PathStat {
            name: self.name.clone(),
            size: self.stat.st_size,
            mode,
            mtime,
            link_target: self.link_target.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        }
    }

    /// Writes the tar of this path to `w`, its entries named under `prefix` (the source's base
    /// name for `docker cp`, empty for `docker export`).
    pub fn pack(&self, prefix: &str, w: impl Write) -> Result<(), ImageError> {
        let mut b = tar::Builder::new(w);
        let name = PathBuf::from(prefix);
        match FileType::from_raw_mode(self.stat.st_mode) {
            FileType::Directory => {
                let dir =
                    rfs::openat(&self.fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                        .map_err(io_err(self.name.clone()))?;
                if !prefix.is_empty() {
                    append_meta(&mut b, &name, &self.stat, tar::EntryType::Directory, None)?;
                }
                walk(&mut b, dir, &name)?;
            }
            FileType::RegularFile => {
                let f = File::open(self.proc_path()).ctx(|| format!("opening {}", self.name))?;
                append_file(&mut b, &name, f)?;
            }
            _ => {
                append_other(&mut b, &name, &self.stat, self.fd.as_fd())?;
            }
        }
        b.finish().ctx(|| "writing the archive".into())
    }
}

thread_local! {
    /// Set by [`Source::pack_unshifted`] for the duration of one synchronous `pack`.
    static UNSHIFT: std::cell::RefCell<Option<berth_proto::idmap::IdMaps>> = const { std::cell::RefCell::new(None) };
}

impl Source {
    /// [`Source::pack`] of a remapped container's files: owners written as the container sees
    /// them (host ids mapped back through `maps`; an unmapped one is nobody), as Docker's
    /// `cp` and `export` under `--userns-remap`.
    pub fn pack_unshifted(
        &self,
        prefix: &str,
        w: impl Write,
        maps: &berth_proto::idmap::IdMaps,
    ) -> Result<(), ImageError> {
        UNSHIFT.with(|u| *u.borrow_mut() = Some(maps.clone()));
        let r = self.pack(prefix, w);
        UNSHIFT.with(|u| *u.borrow_mut() = None);
        r
    }
}

fn header(st: &Stat, kind: tar::EntryType) -> tar::Header {
    UNSHIFT.with(|u| stat_header(st, kind, u.borrow().as_ref()))
}

/// An empty entry's header: `kind`, `mode`, owners and mtime (seconds) as given.
pub(crate) fn plain_header(kind: tar::EntryType, mode: u32, (uid, gid): (u32, u32), mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// The header of a file with stat `st`: its mode, owners (a remapped container's host ids
/// mapped back through `maps`, as the container sees them; one outside its range is nobody),
/// mtime in seconds, size 0.
pub(crate) fn stat_header(st: &Stat, kind: tar::EntryType, maps: Option<&berth_proto::idmap::IdMaps>) -> tar::Header {
    let owner = match maps {
        Some(m) => (m.container_uid(st.st_uid).unwrap_or(65534), m.container_gid(st.st_gid).unwrap_or(65534)),
        None => (st.st_uid, st.st_gid),
    };
    plain_header(kind, st.st_mode & 0o7777, owner, st.st_mtime)
}

fn append_meta<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    st: &Stat,
    kind: tar::EntryType,
    data: Option<&mut dyn Read>,
) -> Result<(), ImageError> {
    let mut h = header(st, kind);
    let res = match data {
        Some(r) => {
            h.set_size(st.st_size as u64);
            b.append_data(&mut h, name, r)
        }
        None => b.append_data(&mut h, name, io::empty()),
    };
    res.ctx(|| format!("archiving {}", name.display()))
}

/// A regular file: exactly the size fstat gave, padded if it shrank while we read, cut if it grew.
fn append_file<W: Write>(b: &mut tar::Builder<W>, name: &Path, f: File) -> Result<(), ImageError> {
    let st = rfs::fstat(&f).map_err(io_err(name.display().to_string()))?;
    let size = st.st_size.max(0) as u64;
    let mut r = f.take(size).chain(io::repeat(0)).take(size);
    append_meta(b, name, &st, tar::EntryType::Regular, Some(&mut r))
}

fn append_other<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    st: &Stat,
    fd: std::os::fd::BorrowedFd<'_>,
) -> Result<(), ImageError> {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => {
            let target = rfs::readlinkat(fd, "", Vec::new()).map_err(io_err(name.display().to_string()))?;
            let mut h = header(st, tar::EntryType::Symlink);
            let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
            return b.append_link(&mut h, name, &target).ctx(|| format!("archiving {}", name.display()));
        }
        FileType::CharacterDevice => tar::EntryType::Char,
        FileType::BlockDevice => tar::EntryType::Block,
        FileType::Fifo => tar::EntryType::Fifo,
        // Sockets are not archived, as with Docker.
        _ => return Ok(()),
    };
    let mut h = header(st, kind);
    let dev = st.st_rdev;
    let _ = h.set_device_major(rfs::major(dev));
    let _ = h.set_device_minor(rfs::minor(dev));
    b.append_data(&mut h, name, io::empty()).ctx(|| format!("archiving {}", name.display()))
}

fn walk<W: Write>(b: &mut tar::Builder<W>, dir: OwnedFd, prefix: &Path) -> Result<(), ImageError> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for ent in rfs::Dir::read_from(&dir).map_err(io_err(prefix.display().to_string()))? {
        let ent = ent.map_err(io_err(prefix.display().to_string()))?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    // Sorted, so that two exports of the same tree are the same bytes.
    names.sort();
    for n in names {
        let os = OsStr::from_bytes(&n);
        let name = prefix.join(os);
        let st = match rfs::statat(&dir, os, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed while we walk: not an error for a live container.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err(name.display().to_string())(e)),
        };
        let opened = |flags: OFlags| rfs::openat(&dir, os, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty());
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let Ok(sub) = opened(OFlags::RDONLY | OFlags::DIRECTORY) else {
                    continue;
                };
                append_meta(b, &name, &st, tar::EntryType::Directory, None)?;
                walk(b, sub, &name)?;
            }
            FileType::RegularFile => {
                let Ok(fd) = opened(OFlags::RDONLY | OFlags::NONBLOCK) else {
                    continue;
                };
                append_file(b, &name, File::from(fd))?;
            }
            _ => {
                let Ok(fd) = opened(OFlags::PATH) else {
                    continue;
                };
                append_other(b, &name, &st, fd.as_fd())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root_and_are_archived_as_links() {
        let d = std::env::temp_dir().join(format!("berth-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir/sub")).unwrap();
        std::fs::write(d.join("dir/sub/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc", d.join("evil")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("dir/pw")).unwrap();
        // Through a symlink to "/etc": the root's etc, which does not exist, never the host's.
        assert!(matches!(open_in_root(&d, "/evil/passwd", true), Err(ImageError::NotFound(_))));
        let src = open_in_root(&d, "/dir", false).unwrap();
        assert!(src.is_dir());
        let mut out = Vec::new();
        src.pack("dir", &mut out).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            seen.push(format!(
                "{p}:{}:{body}",
                e.link_name().unwrap().map(|l| l.display().to_string()).unwrap_or_default()
            ));
        }
        assert_eq!(seen, ["dir::", "dir/pw:/etc/passwd:", "dir/sub::", "dir/sub/f::hello"]);
        let st = open_in_root(&d, "/dir/pw", false).unwrap().stat();
        assert_eq!((st.name.as_str(), st.link_target.as_str()), ("pw", "/etc/passwd"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
