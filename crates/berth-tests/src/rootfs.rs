//! The default test image, made offline from Debian's busybox-static: the same layout as
//! `scripts/mkrootfs.sh` builds for the demo. Deterministic (fixed owners and mtimes) so that every
//! import of it yields the same layer digest.

use std::path::PathBuf;
use std::process::Command;

const MTIME: u64 = 1_700_000_000;
/// Bump when the layout below changes.
const LAYOUT_VERSION: u32 = 2;
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

fn busybox_path() -> PathBuf {
    std::env::var_os("BERTH_BUSYBOX").map(PathBuf::from).unwrap_or_else(|| "/bin/busybox".into())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

/// Builds the busybox rootfs tarball in memory: bin/busybox with one symlink per applet, etc/passwd,
/// etc/group, empty etc/{hostname,hosts,resolv.conf}, and the usual empty directories (tmp is
/// 1777). The same layout as berth-image's `busybox_rootfs_tar`, built here so the tests do not
/// depend on the crate under test to make their fixture.
pub fn busybox_rootfs_tar() -> std::io::Result<Vec<u8>> {
    let bb_path = busybox_path();
    let bb = std::fs::read(&bb_path)?;
    let list = Command::new(&bb_path).arg("--list").output()?;
    if !list.status.success() {
        return Err(std::io::Error::other(format!("{} --list failed", bb_path.display())));
    }
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut b = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin/", 0o755),
        ("dev/", 0o755),
        ("etc/", 0o755),
        ("home/", 0o755),
        ("proc/", 0o555),
        ("root/", 0o700),
        ("sys/", 0o555),
        ("tmp/", 0o1777),
        ("var/", 0o755),
    ] {
        b.append_data(&mut header(tar::EntryType::Directory, mode, 0), dir, std::io::empty())?;
    }
    b.append_data(&mut header(tar::EntryType::Regular, 0o755, bb.len() as u64), "bin/busybox", bb.as_slice())?;
    let mut names: Vec<&str> = applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox").collect();
    names.sort_unstable();
    names.dedup();
    for a in names {
        b.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), format!("bin/{a}"), "busybox")?;
    }
    // Empty hostname/hosts/resolv.conf: the targets the engine bind-mounts its own files onto.
    for (path, text) in
        [("etc/group", GROUP), ("etc/hostname", ""), ("etc/hosts", ""), ("etc/passwd", PASSWD), ("etc/resolv.conf", "")]
    {
        b.append_data(&mut header(tar::EntryType::Regular, 0o644, text.len() as u64), path, text.as_bytes())?;
    }
    b.into_inner()
}

/// The rootfs tarball as a file, built once per build directory; safe when tests race to build it
/// (each writes its own temp file and renames it into place).
pub fn busybox_tar_path() -> PathBuf {
    // The name carries the layout version so a changed layout never reuses a stale cached file.
    let path = crate::cache_dir().join(format!("busybox-rootfs-v{LAYOUT_VERSION}.tar"));
    if path.is_file() {
        return path;
    }
    let data = busybox_rootfs_tar().expect("build busybox rootfs tar (is busybox-static installed?)");
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, data).expect("write busybox rootfs tar");
    std::fs::rename(&tmp, &path).expect("rename busybox rootfs tar");
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_has_shell_users_and_sticky_tmp() {
        let data = busybox_rootfs_tar().unwrap();
        let mut ar = tar::Archive::new(data.as_slice());
        let mut seen = std::collections::BTreeMap::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            seen.insert(
                p,
                (
                    e.header().entry_type(),
                    e.header().mode().unwrap(),
                    e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
                ),
            );
        }
        assert_eq!(seen["bin/sh"], (tar::EntryType::Symlink, 0o777, Some("busybox".into())));
        assert_eq!(seen["tmp/"].1, 0o1777);
        assert_eq!(seen["bin/busybox"].0, tar::EntryType::Regular);
        assert!(seen.contains_key("etc/passwd") && seen.contains_key("etc/group"));
        // Deterministic: a second build is byte-identical.
        assert_eq!(busybox_rootfs_tar().unwrap(), data);
    }
}
