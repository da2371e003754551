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
