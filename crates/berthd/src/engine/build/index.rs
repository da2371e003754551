//! What a build context holds, learned while it streams in: every entry's path, mode, size and
//! content digest, and where its bytes are in the spooled (decompressed) tar. A warm build
//! answers its COPY checksums from here without writing the context out; the tree is unpacked
//! (`Context::materialize`) only when a step needs the files. A context the index cannot stand
//! for exactly — links, an entry replacing another of a different kind — is marked `tricky`, and
//! every COPY then reads the unpacked tree instead.

use crate::engine::EngineError;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

#[derive(Debug, Clone)]
pub(super) enum Node {
    File { mode: u32, size: u64, digest: [u8; 32], offset: u64 },
    Dir { mode: u32 },
}

#[derive(Debug, Default)]
pub(super) struct Index {
    pub nodes: HashMap<String, Node>,
    /// Directory path ("" for the root) to its children's names, sorted.
    pub children: HashMap<String, BTreeMap<String, ()>>,
    pub tricky: bool,
}

/// Copies everything read into the spool, counting where it is.
pub(super) struct Tee<R, W> {
    pub inner: R,
    pub spool: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.spool.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn parent_of(p: &str) -> (&str, &str) {
    match p.rsplit_once('/') {
        Some((a, b)) => (a, b),
        None => ("", p),
    }
}

impl Index {
    /// Reads the whole (decompressed) tar from `r`, indexing it.
    pub(super) fn read(r: impl Read) -> Result<Index, EngineError> {
        let mut ix = Index::default();
        ix.children.insert(String::new(), BTreeMap::new());
        let mut ar = tar::Archive::new(r);
        // Big reads: the hasher does 16 chunks at a time with AVX-512 only when given that much.
        let mut buf = vec![0u8; 256 << 10];
        let bad = |e: io::Error| EngineError::invalid(format!("invalid build context: invalid tar archive: {e}"));
        for entry in ar.entries().map_err(bad)? {
            let mut e = entry.map_err(bad)?;
            let kind = e.header().entry_type();
            use tar::EntryType as T;
            if matches!(kind, T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink) {
                continue;
            }
            let raw = e.path().map_err(bad)?.into_owned();
            let rel = berth_image::clean_entry_path(&raw).map_err(|e| EngineError::invalid(e.to_string()))?;
            let Some(rel) = rel.to_str().map(str::to_string) else {
                ix.tricky = true;
                continue;
            };
            let mode = e.header().mode().map_err(bad)? & 0o7777;
            match kind {
                T::Regular | T::Continuous => {
                    let offset = e.raw_file_position();
                    let mut h = blake3::Hasher::new();
                    let mut size = 0u64;
                    loop {
                        let n = match e.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                            Err(err) => return Err(bad(err)),
                        };
                        h.update(&buf[..n]);
                        size += n as u64;
                    }
                    ix.put(&rel, Node::File { mode, size, digest: *h.finalize().as_bytes(), offset });
                }
                T::Directory => ix.put(&rel, Node::Dir { mode }),
                _ => ix.tricky = true,
            }
        }
        // What a writer pads past the end blocks.
        io::copy(&mut ar.into_inner(), &mut io::sink()).map_err(bad)?;
        Ok(ix)
    }

    fn put(&mut self, rel: &str, node: Node) {
        if rel.is_empty() {
            return;
        }
        let (parent, name) = parent_of(rel);
        self.implied_dir(parent);
        let replaces_other_kind = !matches!(
            (self.nodes.get(rel), &node),
            (Some(Node::Dir { .. }), Node::Dir { .. }) | (Some(Node::File { .. }), Node::File { .. }) | (None, _)
        );
        if replaces_other_kind {
            self.tricky = true;
        }
        self.children.entry(parent.to_string()).or_default().insert(name.to_string(), ());
        if matches!(node, Node::Dir { .. }) {
            self.children.entry(rel.to_string()).or_default();
        }
        self.nodes.insert(rel.to_string(), node);
    }

    /// A directory the tar never named: the extraction makes it 0755.
    fn implied_dir(&mut self, dir: &str) {
        if dir.is_empty() || self.nodes.contains_key(dir) {
            if let Some(Node::File { .. }) = self.nodes.get(dir) {
                self.tricky = true;
            }
            return;
        }
        let (parent, name) = parent_of(dir);
        self.implied_dir(parent);
        self.children.entry(parent.to_string()).or_default().insert(name.to_string(), ());
        self.children.entry(dir.to_string()).or_default();
        self.nodes.insert(dir.to_string(), Node::Dir { mode: 0o755 });
    }

    /// Takes a top-level file out (the Dockerfile or `.dockerignore` a `.dockerignore` names).
    pub(super) fn forget(&mut self, rel: &str) {
        if let Some(Node::File { .. }) = self.nodes.get(rel) {
            self.nodes.remove(rel);
            if let Some(c) = self.children.get_mut(parent_of(rel).0) {
                c.remove(parent_of(rel).1);
            }
        }
    }

    pub(super) fn get(&self, rel: &str) -> Option<&Node> {
        if rel.is_empty() {
            return Some(&Node::Dir { mode: 0o755 });
        }
        self.nodes.get(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut tb = tar::Builder::new(Vec::new());
        for (name, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            tb.append_data(&mut h, name, *data).unwrap();
        }
        tb.into_inner().unwrap()
    }

    #[test]
    fn indexes_files_and_implied_dirs_and_flags_links() {
        let t = tar_of(&[("a/b/c.txt", b"hello", 0o640), ("./top", b"x", 0o755)]);
        let mut spool = Vec::new();
        let ix = Index::read(Tee { inner: t.as_slice(), spool: &mut spool }).unwrap();
        assert_eq!(spool, t, "the spool is the stream byte for byte");
        match ix.get("a/b/c.txt").unwrap() {
            Node::File { mode, size, digest, offset } => {
                assert_eq!((*mode, *size), (0o640, 5));
                assert_eq!(*digest, *blake3::hash(b"hello").as_bytes());
                assert_eq!(&spool[*offset as usize..*offset as usize + 5], b"hello");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(ix.get("a/b"), Some(Node::Dir { mode: 0o755 })));
        assert!(ix.children[""].contains_key("a") && ix.children[""].contains_key("top"));
        assert!(!ix.tricky);
        let mut tb = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        tb.append_link(&mut h, "l", "/etc").unwrap();
        let ix = Index::read(tb.into_inner().unwrap().as_slice()).unwrap();
        assert!(ix.tricky, "a link makes the index step aside");
        // The tar crate will not write `..`: the header is made by hand.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..6].copy_from_slice(b"../out");
        h.set_size(0);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.resize(512 * 3, 0);
        assert!(Index::read(raw.as_slice()).is_err(), "`..` is refused as the extraction refuses it");
    }

    /// `cargo test --release -p berthd index_speed -- --ignored --nocapture`: the daemon's own
    /// cost of taking in a 50 MB context, without the network.
    #[test]
    #[ignore]
    fn index_speed() {
        let big: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let names: Vec<String> = (0..50).map(|i| format!("big/f{i}")).collect();
        let files: Vec<(&str, &[u8], u32)> = names.iter().map(|n| (n.as_str(), big.as_slice(), 0o644)).collect();
        let t = tar_of(&files);
        let path = std::env::temp_dir().join(format!("berth-index-speed-{}", std::process::id()));
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut tee = Tee { inner: t.as_slice(), spool: super::super::spool::Spool::new(path.clone()) };
            Index::read(&mut tee).unwrap();
            eprintln!("indexed {} MB in {:?}", t.len() >> 20, start.elapsed());
        }
        let _ = std::fs::remove_file(&path);
    }
}
