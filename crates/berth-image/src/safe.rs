//! Writing into a directory tree that must never be escaped: every path is resolved one component
//! at a time from a directory fd with `O_NOFOLLOW`, so neither `..` nor a symlink met on the way
//! (one placed earlier by the same archive, say `a -> /etc` before `a/passwd`) can lead outside.

use crate::error::{ImageError, IoContext};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Ownership, permissions, times and xattrs of one entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub mtime: (i64, i64),
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Keeps only normal components: a leading `/` and `.` go (Docker strips them); `..` is refused.
pub fn clean_entry_path(p: &Path) -> Result<PathBuf, ImageError> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ImageError::InvalidInput(format!("invalid path in layer: {:?} contains \"..\"", p)))
            }
        }
    }
    Ok(out)
}

fn proc_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn escape_err(rel: &Path, e: Errno) -> ImageError {
    if e == Errno::LOOP || e == Errno::NOTDIR {
        ImageError::InvalidInput(format!("refusing to write {:?}: a parent is a symlink or not a directory", rel))
    } else {
        ImageError::Io { context: format!("opening parent of {rel:?}"), source: e.into() }
    }
}

pub(crate) struct SafeRoot {
    root: OwnedFd,
    path: PathBuf,
    dir_times: Vec<(PathBuf, (i64, i64))>,
}

impl SafeRoot {
    pub(crate) fn open(path: &Path) -> Result<Self, ImageError> {
        let root = rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("opening {}", path.display()))?;
        Ok(SafeRoot { root, path: path.to_path_buf(), dir_times: Vec::new() })
    }

    /// Opens directory `rel` (normal components only), creating missing ones with 0755 when
    /// `create`. A symlink or non-directory on the way is an error, never followed.
    pub(crate) fn open_dir(&self, rel: &Path, create: bool) -> Result<OwnedFd, ImageError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur = rfs::openat(&self.root, ".", flags, Mode::empty()).ctx(|| "reopening root".into())?;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                return Err(ImageError::InvalidInput(format!("invalid path {rel:?}")));
            };
            let next = match rfs::openat(&cur, name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(escape_err(rel, e)),
                    }
                    rfs::openat(&cur, name, flags, Mode::empty()).map_err(|e| escape_err(rel, e))?
                }
                Err(e) => return Err(escape_err(rel, e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    /// The parent directory fd of `rel` (created if missing) and the final name.
    fn parent(&self, rel: &Path) -> Result<(OwnedFd, OsString), ImageError> {
        let name = rel.file_name().ok_or_else(|| ImageError::InvalidInput(format!("invalid entry path {rel:?}")))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        Ok((self.open_dir(parent, true)?, name.to_os_string()))
    }

    /// Makes room for a new entry: whatever is at `name` goes, except a directory that is to be
    /// replaced by a directory (tar semantics: the second entry updates its metadata).
    /// Returns true when an existing directory was kept.
    fn make_room(dir: &OwnedFd, name: &OsStr, new_is_dir: bool) -> Result<bool, ImageError> {
        match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e).ctx(|| format!("stat {name:?}")),
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir && new_is_dir {
                    return Ok(true);
                }
                if is_dir {
                    std::fs::remove_dir_all(proc_path(dir).join(name)).ctx(|| format!("removing {name:?}"))?;
                } else {
                    rfs::unlinkat(dir, name, AtFlags::empty()).ctx(|| format!("removing {name:?}"))?;
                }
                Ok(false)
            }
        }
    }

    fn apply_meta(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        m: &Meta,
        kind: FileType,
    ) -> Result<(), ImageError> {
        rfs::chownat(
            dir,
            name,
            Some(rfs::Uid::from_raw(m.uid)),
            Some(rfs::Gid::from_raw(m.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(|| format!("chown {rel:?}"))?;
        if kind != FileType::Symlink {
            // The final component was just created by us and is not a symlink, so following is moot.
            rfs::chmodat(dir, name, Mode::from_raw_mode(m.mode & 0o7777), AtFlags::empty())
                .ctx(|| format!("chmod {rel:?}"))?;
        }
        let p = proc_path(dir).join(name);
        for (k, v) in &m.xattrs {
            if let Err(e) = xattr::set(&p, k, v) {
                tracing::warn!(path = ?rel, xattr = ?k, error = %e, "cannot set xattr");
            }
        }
        if kind == FileType::Directory {
            // Writing children changes a directory's mtime: set it once everything is in.
            self.dir_times.push((rel.to_path_buf(), m.mtime));
        } else {
            set_times(dir, name, m.mtime).ctx(|| format!("utimes {rel:?}"))?;
        }
        Ok(())
    }

    pub(crate) fn write_file(&mut self, rel: &Path, data: &mut dyn Read, m: &Meta) -> Result<u64, ImageError> {
        let (dir, name) = self.parent(rel)?;
        Self::make_room(&dir, &name, false)?;
        let fd = rfs::openat(
            &dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .ctx(|| format!("creating {rel:?}"))?;
        let mut f = File::from(fd);
        let n = io::copy(data, &mut f).ctx(|| format!("writing {rel:?}"))?;
        drop(f);
        self.apply_meta(&dir, &name, rel, m, FileType::RegularFile)?;
        Ok(n)
    }

    pub(crate) fn mkdir(&mut self, rel: &Path, m: &Meta) -> Result<(), ImageError> {
        if rel.as_os_str().is_empty() {
            // The layer root itself ("./" in the archive): only its metadata applies.
            let p = self.path.clone();
            let fd = self.open_dir(Path::new(""), false)?;
            rfs::fchown(&fd, Some(rfs::Uid::from_raw(m.uid)), Some(rfs::Gid::from_raw(m.gid)))
                .ctx(|| format!("chown {}", p.display()))?;
            rfs::fchmod(&fd, Mode::from_raw_mode(m.mode & 0o7777)).ctx(|| format!("chmod {}", p.display()))?;
            self.dir_times.push((PathBuf::new(), m.mtime));
            return Ok(());
        }
        let (dir, name) = self.parent(rel)?;
        if !Self::make_room(&dir, &name, true)? {
            rfs::mkdirat(&dir, &name, Mode::from_raw_mode(0o700)).ctx(|| format!("mkdir {rel:?}"))?;
        }
        self.apply_meta(&dir, &name, rel, m, FileType::Directory)
    }

    pub(crate) fn symlink(&mut self, rel: &Path, target: &Path, m: &Meta) -> Result<(), ImageError> {
        let (dir, name) = self.parent(rel)?;
        Self::make_room(&dir, &name, false)?;
        rfs::symlinkat(target, &dir, &name).ctx(|| format!("symlink {rel:?}"))?;
        self.apply_meta(&dir, &name, rel, m, FileType::Symlink)
    }

    /// Hard link `rel` to `target` (both inside the root; the target's parents are resolved as
    /// safely as any other path, and a symlink target is linked itself, not followed).
    pub(crate) fn hardlink(&mut self, rel: &Path, target: &Path) -> Result<(), ImageError> {
        let missing =
            || ImageError::InvalidInput(format!("invalid hard link {rel:?}: target {target:?} is not in the layer"));
        // The target must already be in the layer: never create directories for it.
        let (tdir, tname) = self.parent_existing(target)?.ok_or_else(missing)?;
        if rel == target {
            return Ok(());
        }
        let (dir, name) = self.parent(rel)?;
        Self::make_room(&dir, &name, false)?;
        match rfs::linkat(&tdir, &tname, &dir, &name, AtFlags::empty()) {
            Err(Errno::NOENT) => Err(missing()),
            r => r.ctx(|| format!("hard link {rel:?} -> {target:?}")),
        }
    }

    pub(crate) fn mknod(&mut self, rel: &Path, kind: FileType, dev: u64, m: &Meta) -> Result<(), ImageError> {
        let (dir, name) = self.parent(rel)?;
        Self::make_room(&dir, &name, false)?;
        rfs::mknodat(&dir, &name, kind, Mode::from_raw_mode(m.mode & 0o7777), dev).ctx(|| format!("mknod {rel:?}"))?;
        self.apply_meta(&dir, &name, rel, m, kind)
    }

    /// An overlayfs whiteout: a character device 0/0.
    pub(crate) fn whiteout(&mut self, rel: &Path, m: &Meta) -> Result<(), ImageError> {
        let m = Meta { mode: 0, xattrs: Vec::new(), ..m.clone() };
        self.mknod(rel, FileType::CharacterDevice, 0, &m)
    }

    /// Marks directory `rel` opaque for overlayfs (lower directories' content hidden).
    pub(crate) fn set_opaque(&mut self, rel: &Path) -> Result<(), ImageError> {
        let fd = self.open_dir(rel, true)?;
        rfs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", rfs::XattrFlags::empty())
            .ctx(|| format!("marking {rel:?} opaque"))
    }

    /// Removes `rel` whatever it is; absent is fine.
    pub(crate) fn remove(&mut self, rel: &Path) -> Result<(), ImageError> {
        let (dir, name) = match self.parent_existing(rel)? {
            Some(x) => x,
            None => return Ok(()),
        };
        Self::make_room(&dir, &name, false).map(|_| ())
    }

    fn parent_existing(&self, rel: &Path) -> Result<Option<(OwnedFd, OsString)>, ImageError> {
        let name = match rel.file_name() {
            Some(n) => n.to_os_string(),
            None => return Ok(None),
        };
        match self.open_dir(rel.parent().unwrap_or(Path::new("")), false) {
            Ok(fd) => Ok(Some((fd, name))),
            Err(ImageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(ImageError::InvalidInput(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes everything inside directory `rel` (an opaque directory of a higher layer).
    pub(crate) fn clear_dir(&mut self, rel: &Path) -> Result<(), ImageError> {
        let fd = match self.open_dir(rel, false) {
            Ok(fd) => fd,
            Err(_) => return Ok(()),
        };
        let base = proc_path(&fd);
        for entry in std::fs::read_dir(&base).ctx(|| format!("reading {rel:?}"))? {
            let entry = entry.ctx(|| format!("reading {rel:?}"))?;
            Self::make_room(&fd, &entry.file_name(), false)?;
        }
        Ok(())
    }

    /// Sets the directory mtimes recorded while writing (deepest first).
    pub(crate) fn finish(mut self) -> Result<(), ImageError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, t) in times {
            if let Ok(fd) = self.open_dir(&rel, false) {
                rfs::futimens(&fd, &timestamps(t)).ctx(|| format!("utimes {rel:?}"))?;
            }
        }
        Ok(())
    }
}

fn timestamps(t: (i64, i64)) -> Timestamps {
    let ts = Timespec { tv_sec: t.0, tv_nsec: t.1 as _ };
    Timestamps { last_access: ts, last_modification: ts }
}

fn set_times(dir: &impl AsFd, name: &OsStr, t: (i64, i64)) -> rustix::io::Result<()> {
    rfs::utimensat(dir, name, &timestamps(t), AtFlags::SYMLINK_NOFOLLOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_entry_path(Path::new("/etc/passwd")).unwrap(), Path::new("etc/passwd"));
        assert_eq!(clean_entry_path(Path::new("./a/./b")).unwrap(), Path::new("a/b"));
        assert_eq!(clean_entry_path(Path::new("./")).unwrap(), Path::new(""));
        assert!(clean_entry_path(Path::new("a/../../b")).is_err());
    }
}
