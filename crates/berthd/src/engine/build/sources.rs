//! The files a COPY/ADD takes: its sources matched inside their root (the context, or a stage's
//! or image's rootfs), and written as tar entries with the step's owner and mode. The same walk
//! gives the cache checksum, with every time left out (Docker's rule: touching a file does not
//! invalidate the cache, changing its content or metadata does).
//!
//! Roots are directories only this build writes (its context, scratch mounts of images), and
//! every source is opened with `RESOLVE_IN_ROOT`: a symlink in a context cannot make the walk
//! read a host file.

use super::index::{Index, Node};
use crate::engine::EngineError;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path};

/// Owner and mode the copied entries get (Docker: root unless `--chown`, modes as in the
/// source unless `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Meta {
    pub uid: u32,
    pub gid: u32,
    pub mode: Option<u32>,
}

/// One matched source: its path inside the root and what it is.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub rel: String,
    pub is_dir: bool,
}

/// `src` cleaned as Docker cleans it; `..` out of the root is refused.
pub(super) fn clean(src: &str) -> Result<String, EngineError> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(src).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            // The guard pops: a `..` takes back the last component, or climbs out.
            Component::ParentDir if parts.pop().is_none() => {
                return Err(EngineError::invalid(format!("Forbidden path outside the build context: {src} ()")));
            }
            _ => {}
        }
    }
    Ok(parts.join("/"))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The sources `src` names under `root`: the path itself, or every path its wildcards match
/// (Go's `filepath.Match` per component, as dockerd).
pub(super) fn matches(root: &Path, src: &str) -> Result<Vec<Item>, EngineError> {
    let rel = clean(src)?;
    if !has_glob(&rel) {
        let s = berth_image::open_in_root(root, &rel, true).map_err(|_| not_found(src))?;
        return Ok(vec![Item { rel, is_dir: s.is_dir() }]);
    }
    let mut found = Vec::new();
    let pats: Vec<&str> = rel.split('/').collect();
    glob_walk(root, "", &pats, &mut found)?;
    if found.is_empty() {
        return Err(not_found(src));
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

fn glob_walk(root: &Path, prefix: &str, pats: &[&str], out: &mut Vec<Item>) -> Result<(), EngineError> {
    let Some((first, rest)) = pats.split_first() else {
        return Ok(());
    };
    // A link whose target is not in the root matches nothing, as a missing directory.
    let Ok(dir) = berth_image::open_in_root(root, if prefix.is_empty() { "." } else { prefix }, true) else {
        return Ok(());
    };
    if !dir.is_dir() {
        return Ok(());
    }
    let pat = glob::Pattern::new(first).map_err(|e| EngineError::invalid(format!("invalid pattern {first:?}: {e}")))?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut names: Vec<String> = fs::read_dir(dir.proc_path())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| pat.matches_with(n, opts))
        .collect();
    names.sort();
    for n in names {
        let rel = if prefix.is_empty() { n } else { format!("{prefix}/{n}") };
        if rest.is_empty() {
            let Ok(s) = berth_image::open_in_root(root, &rel, true) else { continue };
            out.push(Item { rel, is_dir: s.is_dir() });
        } else {
            glob_walk(root, &rel, rest, out)?;
        }
    }
    Ok(())
}

fn not_found(src: &str) -> EngineError {
    EngineError::invalid(format!(
        "COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
    ))
}

/// Writes `item` as entries named under `name` (a directory's content, or the file itself).
pub(super) fn pack<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    item: &Item,
    name: &Path,
    meta: Meta,
) -> Result<(), EngineError> {
    let src = berth_image::open_in_root(root, &item.rel, true)?;
    let top = src.proc_path();
    if item.is_dir {
        walk(b, &top, name, meta)
    } else {
        // The fd's /proc path is a magic link: stat through it, not of it.
        entry(b, &top, fs::metadata(&top)?, name, meta)
    }
}

fn walk<W: Write>(b: &mut tar::Builder<W>, dir: &Path, name: &Path, meta: Meta) -> Result<(), EngineError> {
    let mut names: Vec<_> = fs::read_dir(dir)?.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let path = dir.join(&n);
        let st = fs::symlink_metadata(&path)?;
        entry(b, &path, st.clone(), &name.join(&n), meta)?;
        if st.is_dir() {
            walk(b, &path, &name.join(&n), meta)?;
        }
    }
    Ok(())
}

fn entry<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    st: fs::Metadata,
    name: &Path,
    meta: Meta,
) -> Result<(), EngineError> {
    let ft = st.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_uid(meta.uid.into());
    h.set_gid(meta.gid.into());
    h.set_mode(meta.mode.unwrap_or(st.permissions().mode() & 0o7777));
    h.set_mtime(st.mtime().max(0) as u64);
    h.set_size(0);
    let res = if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, name, io::empty())
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = fs::read_link(path)?;
        h.set_mode(st.permissions().mode() & 0o7777);
        b.append_link(&mut h, name, target)
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(st.len());
        let f = fs::File::open(path)?;
        b.append_data(&mut h, name, f.take(st.len()))
    } else {
        // Devices, sockets and fifos of a context are not copied into images.
        return Ok(());
    };
    res.map_err(EngineError::from)
}

/// The checksum of what a COPY takes: one record per entry (name, kind, mode, size, content
/// digest or link target), in the order of a sorted walk. Times and owners are not in it (the
/// owner the step gives is in the step's cache key).
pub(super) struct Sum(blake3::Hasher);

impl Sum {
    pub(super) fn new() -> Sum {
        Sum(blake3::Hasher::new())
    }

    fn record(&mut self, name: &str, kind: u8, mode: u32, size: u64, content: &[u8]) {
        let h = &mut self.0;
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(&[kind]);
        h.update(&mode.to_le_bytes());
        h.update(&size.to_le_bytes());
        h.update(&(content.len() as u64).to_le_bytes());
        h.update(content);
    }

    pub(super) fn finish(self) -> String {
        self.0.finalize().to_hex().to_string()
    }

    /// Adds `item` as found under `root` on disk.
    pub(super) fn add_disk(&mut self, root: &Path, item: &Item, chmod: Option<u32>) -> Result<(), EngineError> {
        let src = berth_image::open_in_root(root, &item.rel, true)?;
        let top = src.proc_path();
        if item.is_dir {
            self.walk_disk(&top, &item.rel, chmod)
        } else {
            self.disk_entry(&top, &fs::metadata(&top)?, &item.rel, chmod)
        }
    }

    fn walk_disk(&mut self, dir: &Path, name: &str, chmod: Option<u32>) -> Result<(), EngineError> {
        let mut names: Vec<_> = fs::read_dir(dir)?.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let path = dir.join(&n);
            let st = fs::symlink_metadata(&path)?;
            let child = format!("{name}/{}", n.to_string_lossy());
            self.disk_entry(&path, &st, &child, chmod)?;
            if st.is_dir() {
                self.walk_disk(&path, &child, chmod)?;
            }
        }
        Ok(())
    }

    fn disk_entry(
        &mut self,
        path: &Path,
        st: &fs::Metadata,
        name: &str,
        chmod: Option<u32>,
    ) -> Result<(), EngineError> {
        let mode = chmod.unwrap_or(st.permissions().mode() & 0o7777);
        let ft = st.file_type();
        if ft.is_dir() {
            self.record(name, b'd', mode, 0, &[]);
        } else if ft.is_file() {
            let mut h = blake3::Hasher::new();
            h.update_reader(fs::File::open(path)?)?;
            self.record(name, b'f', mode, st.len(), h.finalize().as_bytes());
        } else if ft.is_symlink() {
            let target = fs::read_link(path)?;
            self.record(name, b'l', st.permissions().mode() & 0o7777, 0, target.as_os_str().as_encoded_bytes());
        }
        Ok(())
    }

    /// Adds `item` from the context's index; the same records as [`Sum::add_disk`] of the
    /// unpacked context.
    pub(super) fn add_index(&mut self, ix: &Index, item: &Item, chmod: Option<u32>) {
        match ix.get(&item.rel) {
            Some(Node::Dir { .. }) if item.is_dir => self.walk_index(ix, &item.rel, &item.rel, chmod),
            Some(node) => self.index_entry(node, &item.rel, chmod),
            None => {}
        }
    }

    fn walk_index(&mut self, ix: &Index, dir: &str, name: &str, chmod: Option<u32>) {
        let Some(children) = ix.children.get(dir) else { return };
        for n in children.keys() {
            let rel = if dir.is_empty() { n.clone() } else { format!("{dir}/{n}") };
            let child = format!("{name}/{n}");
            if let Some(node) = ix.get(&rel) {
                self.index_entry(node, &child, chmod);
                if matches!(node, Node::Dir { .. }) {
                    self.walk_index(ix, &rel, &child, chmod);
                }
            }
        }
    }

    fn index_entry(&mut self, node: &Node, name: &str, chmod: Option<u32>) {
        match node {
            Node::Dir { mode } => self.record(name, b'd', chmod.unwrap_or(*mode), 0, &[]),
            Node::File { mode, size, digest, .. } => self.record(name, b'f', chmod.unwrap_or(*mode), *size, digest),
        }
    }
}

/// The sources `src` names in the context's index, as [`matches`] finds them on disk.
pub(super) fn matches_index(ix: &Index, src: &str) -> Result<Vec<Item>, EngineError> {
    let rel = clean(src)?;
    let item = |rel: String| -> Option<Item> {
        let is_dir = matches!(ix.get(&rel)?, Node::Dir { .. });
        Some(Item { rel, is_dir })
    };
    if !has_glob(&rel) {
        return item(rel).map(|i| vec![i]).ok_or_else(|| not_found(src));
    }
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut dirs = vec![String::new()];
    let pats: Vec<&str> = rel.split('/').collect();
    for (i, p) in pats.iter().enumerate() {
        let pat = glob::Pattern::new(p).map_err(|e| EngineError::invalid(format!("invalid pattern {p:?}: {e}")))?;
        let mut next = Vec::new();
        for d in &dirs {
            for n in ix.children.get(d).map(|c| c.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if pat.matches_with(&n, opts) {
                    let rel = if d.is_empty() { n } else { format!("{d}/{n}") };
                    let last = i + 1 == pats.len();
                    if last || matches!(ix.get(&rel), Some(Node::Dir { .. })) {
                        next.push(rel);
                    }
                }
            }
        }
        dirs = next;
    }
    let mut found: Vec<Item> = dirs.into_iter().filter_map(item).collect();
    if found.is_empty() {
        return Err(not_found(src));
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

/// `user[:group]` of `--chown`, names looked up in the rootfs' `/etc/passwd` and `/etc/group`.
pub(super) fn chown(rootfs: &Path, spec: &str) -> Result<(u32, u32), EngineError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // The image's files, at most 16 MiB of each: a hostile image's /etc/passwd does not get to
    // fill the daemon's memory.
    let read = |f: &str| {
        let src = berth_image::open_in_root(rootfs, f, true).ok()?;
        let mut text = String::new();
        fs::File::open(src.proc_path()).ok()?.take(16 << 20).read_to_string(&mut text).ok()?;
        Some(text)
    };
    let unknown = |what: &str, n: &str| {
        EngineError::invalid(format!(
            "unable to convert uid/gid chown string to host mapping: can't find {what} for {n}"
        ))
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let passwd = read("/etc/passwd").unwrap_or_default();
            let row = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.first() == Some(&user));
            let row = row.ok_or_else(|| unknown("uid", user))?;
            let uid = row.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| unknown("uid", user))?;
            (uid, row.get(3).and_then(|v| v.parse::<u32>().ok()))
        }
    };
    let gid = match group {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read("/etc/group").unwrap_or_default();
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.first() == Some(&g))
                    .and_then(|f| f.get(2).and_then(|v| v.parse().ok()))
                    .ok_or_else(|| unknown("gid", g))?
            }
        },
    };
    Ok((uid, gid))
}

/// `--chmod=0644` (octal only, as the classic builder).
pub(super) fn chmod(spec: &str) -> Result<u32, EngineError> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| EngineError::invalid(format!("invalid chmod parameter: {spec:?}: must be an octal mode")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_inside() {
        assert_eq!(clean("./a/../b/").unwrap(), "b");
        assert_eq!(clean("/x/y").unwrap(), "x/y");
        assert_eq!(clean(".").unwrap(), "");
        assert!(clean("../etc/passwd").is_err());
        assert!(clean("a/../../b").is_err());
    }

    #[test]
    fn chmod_is_octal() {
        assert_eq!(chmod("0644").unwrap(), 0o644);
        assert_eq!(chmod("755").unwrap(), 0o755);
        assert!(chmod("u+x").is_err());
        assert!(chmod("77777").is_err());
    }

    #[test]
    fn globs_match_per_component_and_symlinks_stay_inside() {
        let dir = std::env::temp_dir().join(format!("berth-src-{:x}", rand::random::<u64>()));
        fs::create_dir_all(dir.join("a/b")).unwrap();
        fs::write(dir.join("a/x.txt"), "1").unwrap();
        fs::write(dir.join("a/b/y.txt"), "2").unwrap();
        fs::write(dir.join("z.txt"), "3").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("esc")).unwrap();
        let rels = |v: Vec<Item>| v.into_iter().map(|i| i.rel).collect::<Vec<_>>();
        assert_eq!(rels(matches(&dir, "*.txt").unwrap()), vec!["z.txt"]);
        assert_eq!(rels(matches(&dir, "a/*.txt").unwrap()), vec!["a/x.txt"]);
        assert_eq!(rels(matches(&dir, "*/*.txt").unwrap()), vec!["a/x.txt"]);
        assert!(matches(&dir, "nothing*").is_err());
        // A symlink to /etc resolves inside the root: there is no esc/passwd there.
        assert!(matches(&dir, "esc/passwd").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
