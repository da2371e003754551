//! A container's changes over its image as a layer tarball, in the format Docker's commit writes
//! (moby `pkg/archive`): a deleted path is an empty regular file `.wh.<name>`, a directory whose
//! lower content is hidden gets a `.wh..wh..opq` entry right after its own, entries come parents
//! first in path order, with the owners (as the container sees them), modes, mtimes (seconds)
//! and xattrs the files have, and a second name of an inode is a hard link to the first.
//!
//! Files are opened inside the source root with `RESOLVE_IN_ROOT` and never followed at the end,
//! so a symlink the container swaps in while a commit without pause reads cannot lead the daemon
//! to a host file; an entry that vanished meanwhile is left out.

use crate::driver::changes::{from_full, is_opaque, is_whiteout, lookup};
use crate::driver::{ChangeKind, DiffSource};
use crate::error::{ImageError, IoContext};
use berth_proto::idmap::IdMaps;
use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags, Stat};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Docker's empty layer: the diff id of a tarball of nothing (two zero blocks). Docker leaves it
/// out of an image's rootfs (the history row says `empty_layer`).
pub const EMPTY_LAYER_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What the daemon, not the container, puts into a rootfs (mount points of its bind mounts and
/// kernel file systems). Docker keeps them in an init layer under the container's own, so a
/// commit never carries them; here they sit in the container's layer and are left out.
const INIT_PATHS: &[&str] = &[
    ".dockerenv",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "proc",
    "sys",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The path as it is in the source root.
    Path,
    /// The directory's opaque marker (sorted right after the directory).
    Opaque,
    /// The path was deleted.
    Whiteout,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    rel: PathBuf,
    kind: Kind,
}

/// Every entry of an overlayfs upper dir, parents first.
fn upper_entries(upper: &Path) -> Result<Vec<Entry>, ImageError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).ctx(|| format!("reading {}", dir.display())),
        };
        for ent in rd.flatten() {
            let r = rel.join(ent.file_name());
            // DirEntry metadata is lstat's: a symlink is never descended.
            let Ok(md) = ent.metadata() else { continue };
            if is_whiteout(&md) {
                out.push(Entry { rel: r, kind: Kind::Whiteout });
                continue;
            }
            out.push(Entry { rel: r.clone(), kind: Kind::Path });
            if md.is_dir() {
                if is_opaque(&upper.join(&r)) {
                    out.push(Entry { rel: r.clone(), kind: Kind::Opaque });
                }
                stack.push(r);
            }
        }
    }
    Ok(out)
}

/// A vfs rootfs against the image's layers.
fn rootfs_entries(rootfs: &Path, layers: &[PathBuf], maps: Option<&IdMaps>) -> Result<Vec<Entry>, ImageError> {
    Ok(from_full(rootfs, layers, maps)?
        .into_iter()
        .map(|c| Entry {
            rel: PathBuf::from(c.path.trim_start_matches('/')),
            kind: if c.kind == ChangeKind::Deleted { Kind::Whiteout } else { Kind::Path },
        })
        .collect())
}

/// Leaves out the daemon's mount points ([`INIT_PATHS`]) that the image did not have, and the
/// directories above them that hold nothing else and are as the image has them (or new).
fn drop_init_paths(entries: Vec<Entry>, root: &Path, layers: &[PathBuf], maps: Option<&IdMaps>) -> Vec<Entry> {
    let top_first: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    let mut kept: Vec<Entry> = entries
        .into_iter()
        .filter(|e| {
            !(e.kind == Kind::Path
                && INIT_PATHS.iter().any(|p| e.rel == Path::new(p))
                && lookup(&top_first, &e.rel).is_none())
        })
        .collect();
    let ancestors: std::collections::BTreeSet<&Path> = INIT_PATHS
        .iter()
        .flat_map(|p| Path::new(p).ancestors().skip(1))
        .filter(|a| !a.as_os_str().is_empty())
        .collect();
    // Deepest first, so that `dev` goes after `dev/pts` has gone.
    let mut candidates: Vec<&Path> = ancestors.into_iter().collect();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for a in candidates {
        let holds_more = kept.iter().any(|e| e.rel.starts_with(a) && e.rel != a);
        let opaque = kept.iter().any(|e| e.rel == a && e.kind == Kind::Opaque);
        if holds_more || opaque {
            continue;
        }
        let as_in_image = match (fs::symlink_metadata(root.join(a)), lookup(&top_first, a)) {
            (Ok(_), None) => true,
            (Ok(now), Some(before)) => {
                let uid = maps.map_or(Some(now.uid()), |m| m.container_uid(now.uid()));
                let gid = maps.map_or(Some(now.gid()), |m| m.container_gid(now.gid()));
                now.mode() == before.mode() && uid == Some(before.uid()) && gid == Some(before.gid())
            }
            (Err(_), _) => false,
        };
        if as_in_image {
            kept.retain(|e| !(e.rel == a && e.kind == Kind::Path));
        }
    }
    kept
}

/// Writes the layer tarball of what `source` changed over `layers` (the image's diff dirs,
/// lowest first) to `w`.
pub(crate) fn write_layer(source: &DiffSource, layers: &[PathBuf], w: impl Write) -> Result<(), ImageError> {
    let (root, maps, entries) = match source {
        DiffSource::Upper { dir, idmap } => (dir, idmap.as_ref(), upper_entries(dir)?),
        DiffSource::Rootfs { dir, idmap } => (dir, idmap.as_ref(), rootfs_entries(dir, layers, idmap.as_ref())?),
    };
    let mut entries = drop_init_paths(entries, root, layers, maps);
    // Component-wise path order is a depth-first walk with each directory's entries sorted.
    entries.sort();
    let rootfd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", root.display()))?;
    let mut tw = TarWriter { b: tar::Builder::new(w), maps, links: HashMap::new() };
    for e in &entries {
        tw.entry(&rootfd, e)?;
    }
    tw.b.into_inner().and_then(|mut w| w.flush()).ctx(|| "writing the layer".into())
}

struct TarWriter<'a, W: Write> {
    b: tar::Builder<W>,
    maps: Option<&'a IdMaps>,
    /// (dev, inode) of files with several names -> the name written first.
    links: HashMap<(u64, u64), PathBuf>,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One PAX record, `"<len> <key>=<value>\n"`, its length counting its own digits.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = 3 + key.len() + value.len(); // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl<W: Write> TarWriter<'_, W> {
    fn err(name: &Path) -> impl FnOnce() -> String + '_ {
        move || format!("archiving {}", name.display())
    }

    fn header(&self, st: &Stat, kind: tar::EntryType) -> tar::Header {
        // The layer keeps the owners the container sees (a remapped one's are shifted on disk).
        crate::pack::stat_header(st, kind, self.maps)
    }

    fn empty_file(&mut self, name: &Path, mode: u32, owner: (u32, u32), mtime: i64) -> Result<(), ImageError> {
        let mut h = crate::pack::plain_header(tar::EntryType::Regular, mode, owner, mtime);
        self.b.append_data(&mut h, name, io::empty()).ctx(Self::err(name))
    }

    /// The xattrs of an open file as PAX records, before its header (overlayfs' own are not
    /// the container's: left out).
    fn xattrs(&mut self, f: &fs::File, name: &Path) -> Result<(), ImageError> {
        use xattr::FileExt;
        let Ok(names) = f.list_xattr() else { return Ok(()) };
        let mut body = Vec::new();
        for n in names {
            let key = n.to_string_lossy();
            if key.starts_with("trusted.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = f.get_xattr(&n) {
                body.extend(pax_record(&format!("SCHILY.xattr.{key}"), &v));
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        let base = name.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
        // Go's archive/tar names them so; readers only look at the type.
        let pax_name = format!("PaxHeaders.0/{}", base.chars().take(80).collect::<String>());
        self.b.append_data(&mut h, pax_name, body.as_slice()).ctx(Self::err(name))
    }

    fn entry(&mut self, rootfd: &OwnedFd, e: &Entry) -> Result<(), ImageError> {
        let name = &e.rel;
        let with_base = |prefix: &str| -> PathBuf {
            let base = name.file_name().unwrap_or_default();
            let mut b = OsStr::new(prefix).as_bytes().to_vec();
            b.extend_from_slice(base.as_bytes());
            name.with_file_name(OsStr::from_bytes(&b))
        };
        if e.kind == Kind::Whiteout {
            return self.empty_file(&with_base(".wh."), 0o600, (0, 0), now_secs());
        }
        let fd = match rfs::openat2(
            rootfd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            // Gone since it was listed (a container committed without pause).
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(()),
            Err(err) => return Err(io::Error::from(err)).ctx(Self::err(name)),
        };
        let st = rfs::fstat(&fd).ctx(Self::err(name))?;
        if e.kind == Kind::Opaque {
            let h = self.header(&st, tar::EntryType::Regular);
            let owner = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
            return self.empty_file(&name.join(".wh..wh..opq"), st.st_mode & 0o777, owner, st.st_mtime);
        }
        let reopen = || {
            let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
            rfs::open(p.as_str(), OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
                .map(fs::File::from)
                .ctx(Self::err(name))
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let f = reopen()?;
                self.xattrs(&f, name)?;
                let mut h = self.header(&st, tar::EntryType::Directory);
                self.b.append_data(&mut h, name, io::empty()).ctx(Self::err(name))
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = self.header(&st, tar::EntryType::Link);
                        return self.b.append_link(&mut h, name, first).ctx(Self::err(name));
                    }
                    self.links.insert(key, name.clone());
                }
                let f = reopen()?;
                self.xattrs(&f, name)?;
                let mut h = self.header(&st, tar::EntryType::Regular);
                // Exactly the size fstat gave: padded if it shrank while read, cut if it grew.
                let size = st.st_size.max(0) as u64;
                h.set_size(size);
                let r = f.take(size).chain(io::repeat(0)).take(size);
                self.b.append_data(&mut h, name, r).ctx(Self::err(name))
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(&fd, "", Vec::new()).ctx(Self::err(name))?;
                let mut h = self.header(&st, tar::EntryType::Symlink);
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                self.b.append_link(&mut h, name, target).ctx(Self::err(name))
            }
            ft @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = self.header(&st, kind);
                let _ = h.set_device_major(rfs::major(st.st_rdev));
                let _ = h.set_device_minor(rfs::minor(st.st_rdev));
                self.b.append_data(&mut h, name, io::empty()).ctx(Self::err(name))
            }
            // Sockets are not content, as in Docker's archives.
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pax_records_count_their_own_length() {
        for (k, v) in [("a", &b"b"[..]), ("SCHILY.xattr.user.x", &[7u8; 95][..]), ("k", &[1u8; 3][..])] {
            let r = super::pax_record(k, v);
            let text = String::from_utf8_lossy(&r);
            let len: usize = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(len, r.len(), "{text:?}");
        }
    }
}
