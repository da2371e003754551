//! Crash-consistent file writes (invariant 5): write a temporary file, fsync it, rename it over the
//! target, fsync the directory. A crash at any point leaves either the old or the new content.

use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Atomically replaces `path` with `data`.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, true)
}

/// Atomically writes `value` as pretty JSON.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    replace(path, &data, true)
}

/// Atomically writes `value` as JSON under the exec-root, without fsync. The exec-root is a tmpfs
/// that no more outlives the machine than the processes its files describe: the rename is atomic
/// for every process on the machine, including a daemon restarted after a kill, and an fsync
/// (two per file, ~0.5 ms each on a disk) would only guard against a power loss, after which
/// these files describe nothing. Everything under the data-root goes through
/// [`write_json_atomic`].
pub fn write_json_runtime<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    replace(path, &data, false)
}

/// [`write_json_runtime`] for bytes.
pub fn write_runtime(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, false)
}

fn replace(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if durable {
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `path` is the root of a mount. statx's `STATX_ATTR_MOUNT_ROOT` (Linux 5.8) answers in
/// one syscall; a read of /proc/self/mountinfo costs in proportion to every mount on the host (3 ms
/// with 240 containers' overlays here), and is only the fallback for older kernels.
pub fn is_mount_point(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    let flags = AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW;
    match statx(CWD, path, flags, StatxFlags::empty()) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) | Err(rustix::io::Errno::NOSYS) => listed_in_mountinfo(path),
        Err(_) => false,
    }
}

fn listed_in_mountinfo(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|mp| unescape_mountinfo(mp) == want))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_reads_back() {
        let d = std::env::temp_dir().join(format!("berth-proto-fsutil-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("x.json");
        write_json_atomic(&p, &vec![1, 2, 3]).unwrap();
        write_json_atomic(&p, &vec![4]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![4]));
        assert_eq!(read_json::<Vec<i32>>(&d.join("missing")).unwrap(), None);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temp file left behind");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn mount_points_are_told_apart_as_mountinfo_would() {
        use nix::mount::{mount, umount, MsFlags};
        let d = std::env::temp_dir().join(format!("berth-proto-mnt-{}", std::process::id()));
        let inner = d.join("sub dir");
        fs::create_dir_all(&inner).unwrap();
        assert!(is_mount_point(Path::new("/proc")) && listed_in_mountinfo(Path::new("/proc")));
        assert!(!is_mount_point(&inner) && !listed_in_mountinfo(&inner));
        assert!(!is_mount_point(&d.join("missing")));
        mount(Some("tmpfs"), &inner, Some("tmpfs"), MsFlags::empty(), None::<&str>).expect("mount tmpfs (tests run as root)");
        // A path with a space: mountinfo escapes it as \040.
        let (by_statx, by_scan) = (is_mount_point(&inner), listed_in_mountinfo(&inner));
        fs::create_dir(inner.join("x")).unwrap();
        let below = is_mount_point(&inner.join("x"));
        umount(&inner).unwrap();
        assert!(by_statx && by_scan, "a tmpfs mounted on {}: statx {by_statx}, mountinfo {by_scan}", inner.display());
        assert!(!below, "a directory inside a mount is not a mount point");
        assert!(!is_mount_point(&inner), "unmounted again");
        fs::remove_dir_all(&d).unwrap();
    }
}

/// A unix socket address usable whatever the length of `path`: `sun_path` holds 108 bytes, and a
/// deep exec-root overflows it. A long path is reached through `/proc/self/fd/<dir fd>/<name>`; the
/// returned directory handle must stay open while the path is used (bind or connect).
pub fn socket_path(path: &Path) -> io::Result<(Option<File>, std::path::PathBuf)> {
    if path.as_os_str().len() < 100 {
        return Ok((None, path.to_path_buf()));
    }
    let dir = path.parent().ok_or_else(|| io::Error::other("socket path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("socket path has no file name"))?;
    let d = File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = std::path::PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    Ok((Some(d), short))
}
