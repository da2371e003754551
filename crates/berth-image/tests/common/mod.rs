#![allow(dead_code)]
//! Helpers shared by the integration tests: temp dirs cleaned up on drop (mounts included) and
//! tarball builders, including hostile ones the `tar` crate's safe setters refuse to write.

use std::fs;
use std::path::{Path, PathBuf};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("berth-image-{tag}-{}-{:08x}", std::process::id(), rand_u32()));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

fn rand_u32() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    n ^ std::process::id().rotate_left(16) ^ (COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst) << 8)
}
static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Drop for TempDir {
    fn drop(&mut self) {
        // A failed test may leave overlay mounts below: detach them before deleting anything.
        if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
            let prefix = self.0.to_string_lossy().into_owned();
            let mut mps: Vec<String> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4).map(String::from))
                .filter(|mp| mp.starts_with(&prefix))
                .collect();
            mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for mp in mps {
                let _ = nix::mount::umount2(mp.as_str(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub struct Tar(pub tar::Builder<Vec<u8>>);

impl Default for Tar {
    fn default() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }
}

impl Tar {
    /// An entry whose name and link name are written raw (so `..` and absolute paths pass).
    pub fn raw(&mut self, kind: tar::EntryType, name: &str, link: &str, mode: u32, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        {
            let g = h.as_gnu_mut().unwrap();
            g.name = [0; 100];
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.linkname = [0; 100];
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(tar::EntryType::Directory, name, "", 0o755, b"")
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(tar::EntryType::Regular, name, "", 0o644, data)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(tar::EntryType::Symlink, name, target, 0o777, b"")
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(tar::EntryType::Link, name, target, 0o644, b"")
    }
    /// A file with owner, mode, mtime and an xattr (PAX `SCHILY.xattr.`).
    pub fn file_with_meta(&mut self, name: &str, data: &[u8], uid: u64, gid: u64, mode: u32, mtime: u64) -> &mut Self {
        self.0.append_pax_extensions([("SCHILY.xattr.user.berth", b"hello".as_slice())]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }
    pub fn device(&mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_mtime(1_600_000_000);
        self.0.append_data(&mut h, name, std::io::empty()).unwrap();
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn busybox_tar() -> Vec<u8> {
    let mut v = Vec::new();
    berth_image::busybox_rootfs_tar(&mut v).unwrap();
    v
}

pub fn no_users(_: &str) -> Vec<berth_image::ContainerUse> {
    Vec::new()
}
