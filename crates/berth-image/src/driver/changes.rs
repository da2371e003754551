//! `docker diff`: what a container changed in its rootfs against its image's layers. overlay2
//! reads it off the upper dir; vfs compares the whole rootfs with the merged layers.

use crate::error::{ImageError, IoContext};
use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's kinds: 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute, as the container sees it.
    pub path: String,
    pub kind: ChangeKind,
}

pub(crate) fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

pub(crate) fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut buf).is_ok_and(|n| n >= 1 && buf[0] == b'y')
}

/// `rel` in the image's merged view (layers top first): its metadata, or None when absent or
/// hidden by a whiteout or an opaque directory above it.
pub(crate) fn lookup(layers_top_first: &[PathBuf], rel: &Path) -> Option<Metadata> {
    for layer in layers_top_first {
        if let Ok(md) = fs::symlink_metadata(layer.join(rel)) {
            return (!is_whiteout(&md)).then_some(md);
        }
        let mut hidden = false;
        for anc in rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
            let p = layer.join(anc);
            match fs::symlink_metadata(&p) {
                Ok(md) if is_whiteout(&md) => return None,
                Ok(md) if md.is_dir() && is_opaque(&p) => hidden = true,
                _ => {}
            }
        }
        if hidden {
            return None;
        }
    }
    None
}

fn walk(dir: &Path, rel: &Path, f: &mut dyn FnMut(&Path, &Metadata, &Path) -> bool) -> Result<(), ImageError> {
    let rd = match fs::read_dir(dir.join(rel)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("reading {}", dir.join(rel).display())),
    };
    for ent in rd.flatten() {
        let r = rel.join(ent.file_name());
        let Ok(md) = ent.metadata() else { continue };
        let descend = f(&r, &md, &dir.join(&r));
        if descend && md.is_dir() {
            walk(dir, &r, f)?;
        }
    }
    Ok(())
}

fn abs(rel: &Path) -> String {
    format!("/{}", rel.display())
}

fn sorted(mut v: Vec<Change>) -> Vec<Change> {
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// overlay2: every entry of the upper dir is a change.
pub(crate) fn from_upper(upper: &Path, layers: &[PathBuf]) -> Result<Vec<Change>, ImageError> {
    let top_first: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    let mut out = Vec::new();
    walk(upper, Path::new(""), &mut |rel, md, _| {
        if is_whiteout(md) {
            out.push(Change { path: abs(rel), kind: ChangeKind::Deleted });
            return false;
        }
        let below = lookup(&top_first, rel);
        let kind = if below.is_some() { ChangeKind::Modified } else { ChangeKind::Added };
        out.push(Change { path: abs(rel), kind });
        true
    })?;
    Ok(sorted(out))
}

/// Whether `new` (the container's file) is `old` (the image's) unchanged; a remapped container's
/// copy is owned by the shifted ids of the image's owners.
fn same(old: &Metadata, new: &Metadata, maps: Option<&berth_proto::idmap::IdMaps>) -> bool {
    let (uid, gid) = match maps {
        Some(m) => (m.container_uid(new.uid()), m.container_gid(new.gid())),
        None => (Some(new.uid()), Some(new.gid())),
    };
    let (a, b) = (old, new);
    a.mode() == b.mode()
        && Some(a.uid()) == uid
        && Some(a.gid()) == gid
        && (a.is_dir() || (a.size() == b.size() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()))
}

/// vfs: the rootfs against the merged layers, both walked whole (`maps`: the container's id
/// mappings, when its copy was shifted).
pub(crate) fn from_full(
    rootfs: &Path,
    layers: &[PathBuf],
    maps: Option<&berth_proto::idmap::IdMaps>,
) -> Result<Vec<Change>, ImageError> {
    let top_first: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    let mut image: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for layer in layers {
        walk(layer, Path::new(""), &mut |rel, md, _| {
            if !is_whiteout(md) && lookup(&top_first, rel).is_some() {
                image.insert(rel.to_path_buf(), ());
            }
            true
        })?;
    }
    let mut out = Vec::new();
    let mut present = BTreeMap::new();
    walk(rootfs, Path::new(""), &mut |rel, md, _| {
        present.insert(rel.to_path_buf(), ());
        match lookup(&top_first, rel) {
            None => out.push(Change { path: abs(rel), kind: ChangeKind::Added }),
            Some(old) if !same(&old, md, maps) => out.push(Change { path: abs(rel), kind: ChangeKind::Modified }),
            Some(_) => {}
        }
        true
    })?;
    // A deleted directory is one change, not one per entry under it.
    let mut gone: Vec<&PathBuf> = image.keys().filter(|p| !present.contains_key(*p)).collect();
    gone.sort();
    let mut last: Option<&PathBuf> = None;
    for p in gone {
        if last.is_some_and(|l| p.starts_with(l)) {
            continue;
        }
        out.push(Change { path: abs(p), kind: ChangeKind::Deleted });
        last = Some(p);
    }
    // As Docker's naive diff: a directory with a change inside is reported as changed itself.
    let known: std::collections::BTreeSet<String> = out.iter().map(|c| c.path.clone()).collect();
    let mut parents = std::collections::BTreeSet::new();
    for c in &out {
        for anc in Path::new(&c.path).ancestors().skip(1) {
            let a = anc.display().to_string();
            if a != "/" && !known.contains(&a) {
                parents.insert(a);
            }
        }
    }
    out.extend(parents.into_iter().map(|path| Change { path, kind: ChangeKind::Modified }));
    Ok(sorted(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_entries_are_classified_against_the_layers() {
        let d = std::env::temp_dir().join(format!("berth-changes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (lower, upper) = (d.join("lower"), d.join("upper"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::write(lower.join("gone"), "x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/passwd"), "root2").unwrap();
        fs::create_dir_all(upper.join("new")).unwrap();
        fs::write(upper.join("new/f"), "").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        let got: Vec<(String, ChangeKind)> =
            from_upper(&upper, std::slice::from_ref(&lower)).unwrap().into_iter().map(|c| (c.path, c.kind)).collect();
        use ChangeKind::*;
        let want =
            [("/etc", Modified), ("/etc/passwd", Modified), ("/gone", Deleted), ("/new", Added), ("/new/f", Added)];
        assert_eq!(got, want.map(|(p, k)| (p.to_string(), k)));
        fs::remove_dir_all(&d).unwrap();
    }
}
