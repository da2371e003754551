//! Image archives made by hand for tests: layer tarballs, configs, and Docker-format archives
//! (what `docker save` writes), so that tests can load multi-layer images without a registry.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;

use crate::busybox_tar_path;

pub fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

pub fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, text) in entries {
        let mut h = tar::Header::new_gnu();
        let dir = path.ends_with('/');
        h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(text.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Three layers: busybox; /data with two files; a whiteout of /data/b and of /bin/cat, an opaque
/// /etc/extra.d replacing what layer 2 put there.
pub fn layers() -> Vec<Vec<u8>> {
    vec![
        fs::read(busybox_tar_path()).unwrap(),
        tar_of(&[
            ("data/", ""),
            ("data/a", "first\n"),
            ("data/b", "gone soon\n"),
            ("etc/extra.d/", ""),
            ("etc/extra.d/old", "old\n"),
        ]),
        tar_of(&[
            ("data/.wh.b", ""),
            ("bin/.wh.cat", ""),
            ("etc/extra.d/", ""),
            ("etc/extra.d/.wh..wh..opq", ""),
            ("etc/extra.d/new", "new\n"),
        ]),
    ]
}

pub fn config(diff_ids: &[String], arch: &str) -> Vec<u8> {
    let hist: Vec<_> = ["busybox base", "add data", "delete and replace"]
        .iter()
        .map(|c| json!({"created": "2026-01-02T03:04:05Z", "created_by": c}))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux", "created": "2026-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"made": "by-test"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": hist,
    }))
    .unwrap()
}

pub fn docker_archive(tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    docker_archive_with(tag, &config(&ids, "amd64"), layers)
}

/// Docker's format with the config given: it may promise other layers than those archived.
pub fn docker_archive_with(tag: &str, cfg: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    let cfg_name = format!("{}.json", &digest(cfg)[7..]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| add_file(&mut b, name, data);
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("{}/layer.tar", &ids[i][7..19]);
        add(&p, l);
        paths.push(p);
    }
    add(&cfg_name, cfg);
    add(
        "manifest.json",
        &serde_json::to_vec(&json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": paths}])).unwrap(),
    );
    b.into_inner().unwrap()
}

pub fn add_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, name, data).unwrap();
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
