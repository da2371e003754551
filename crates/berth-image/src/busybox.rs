//! A minimal rootfs from the host's static busybox, so the default image can be made offline.

use crate::error::{ImageError, IoContext};
use std::io::Write;
use std::path::Path;
use std::process::Command;

const BUSYBOX: &str = "/bin/busybox";

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    h
}

/// Writes a rootfs tarball made of the host's `/bin/busybox` (Debian's busybox-static): the
/// binary, `/bin/<applet> -> busybox` for each applet, `/etc/{passwd,group}` (root, nobody
/// 65534), empty `/etc/{hostname,hosts,resolv.conf}`, and `/tmp` (1777), `/proc`, `/sys`,
/// `/dev`, `/root`, `/var`, `/home`.
pub fn busybox_rootfs_tar(w: impl Write) -> Result<(), ImageError> {
    let bin = std::fs::read(BUSYBOX).ctx(|| format!("reading {BUSYBOX} (install busybox-static)"))?;
    let out = Command::new(BUSYBOX).arg("--list").output().ctx(|| format!("running {BUSYBOX} --list"))?;
    if !out.status.success() {
        return Err(ImageError::Other(format!("{BUSYBOX} --list failed: {}", out.status)));
    }
    let applets = String::from_utf8_lossy(&out.stdout).into_owned();

    let mut b = tar::Builder::new(w);
    let io = |e: std::io::Error| ImageError::Io { context: "writing busybox rootfs tar".into(), source: e };
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("var", 0o755),
    ] {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, format!("{dir}/"), std::io::empty()).map_err(io)?;
    }
    let mut h = header(tar::EntryType::Regular, 0o755, bin.len() as u64);
    b.append_data(&mut h, "bin/busybox", bin.as_slice()).map_err(io)?;
    let mut names: Vec<&str> = applets.lines().map(str::trim).filter(|a| !a.is_empty()).collect();
    if !names.contains(&"sh") {
        names.push("sh");
    }
    names.sort_unstable();
    names.dedup();
    for applet in names {
        if applet == "busybox" || applet.contains('/') {
            continue;
        }
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, Path::new("bin").join(applet), "busybox").map_err(io)?;
    }
    let files: [(&str, &[u8], u32); 5] = [
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n", 0o644),
        ("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644),
        ("etc/hostname", b"", 0o644),
        ("etc/hosts", b"", 0o644),
        ("etc/resolv.conf", b"", 0o644),
    ];
    for (path, data, mode) in files {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        b.append_data(&mut h, path, data).map_err(io)?;
    }
    b.into_inner().map_err(io)?.flush().map_err(io)?;
    Ok(())
}
