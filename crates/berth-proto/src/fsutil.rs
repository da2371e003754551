//! Crash-consistent file writes (invariant 5): write a temporary file, fsync it, rename it over the
//! target, fsync the directory. A crash at any point leaves either the old or the new content.
//!
//! Every file written here is owner-only (0600) unless the caller names another mode: records
//! carry a container's environment (`-e` secrets), and a file is private from the moment it
//! exists, never chmodded after its content is in it.

use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of every file this module writes unless the caller names another.
pub const PRIVATE_FILE: u32 = modes::PRIVATE_FILE;

/// The modes of what Berth keeps on the host, as Docker's (`setupDaemonRoot`, overlay2 after
/// CVE-2021-41091, `containers/<id>` 0710, `config.v2.json` 0600, json-file logs 0640): no other
/// local user can list, traverse or read any of it. Group bits are the root group's (gid 0),
/// which Docker also lets traverse.
pub mod modes {
    /// `<data-root>`: traversable by the owner's group only, never listable.
    pub const DATA_ROOT: u32 = 0o710;
    /// `<exec-root>`: monitor sockets, OCI specs (the environment), network namespaces.
    pub const EXEC_ROOT: u32 = 0o700;
    /// `<exec-root>` when an API socket lies in it (the default `/run/berth/berth.sock`): others
    /// may traverse it to reach the socket (guarded by its own mode and group), and nothing
    /// else, since every other entry in it is owner-only.
    pub const EXEC_ROOT_WITH_SOCKET: u32 = 0o711;
    /// `<exec-root>` and `<exec-root>/netns` under `--userns-remap` (group: the remapped
    /// root's), so the runtime can open the network namespace file from the container's user
    /// namespace.
    pub const EXEC_ROOT_REMAPPED: u32 = 0o710;
    /// Owner-only directories: `<exec-root>/{shims,netns,runtime}`, `<data-root>/{image,network}`.
    pub const PRIVATE_DIR: u32 = 0o700;
    /// `containers/`, `containers/<id>/`.
    pub const CONTAINER_DIR: u32 = 0o710;
    /// `storage/`, each driver's home, each layer's and each container's storage directory.
    pub const STORAGE_DIR: u32 = 0o710;
    /// `volumes/` (Docker's): others may traverse but not list it; the data-root above it
    /// keeps them out anyway.
    pub const VOLUMES_DIR: u32 = 0o701;
    /// Records, specs, journals: anything that may carry a secret.
    pub const PRIVATE_FILE: u32 = 0o600;
    /// A container's json-file log.
    pub const LOG_FILE: u32 = 0o640;
}

/// Atomically replaces `path` with `data` (mode 0600).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, true, PRIVATE_FILE)
}

/// [`write_atomic`] with another mode: for the few files that must stay readable by others, such
/// as a container's `/etc/hosts`, bind-mounted for processes of any user inside it.
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    replace(path, data, true, mode)
}

/// Atomically writes `value` as pretty JSON (mode 0600).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    replace(path, &data, true, PRIVATE_FILE)
}

/// Atomically writes `value` as JSON under the exec-root, without fsync. The exec-root is a tmpfs
/// that no more outlives the machine than the processes its files describe: the rename is atomic
/// for every process on the machine, including a daemon restarted after a kill, and an fsync
/// (two per file, ~0.5 ms each on a disk) would only guard against a power loss, after which
/// these files describe nothing. Everything under the data-root goes through
/// [`write_json_atomic`].
pub fn write_json_runtime<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    replace(path, &data, false, PRIVATE_FILE)
}

/// [`write_json_runtime`] for bytes.
pub fn write_runtime(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, false, PRIVATE_FILE)
}

fn replace(path: &Path, data: &[u8], durable: bool, mode: u32) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    // Unique per write, not only per process: two threads replacing the same file at once (a
    // container's record, updated by its watcher and by a start) would otherwise share the
    // temporary, and the second rename would find it gone.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.tmp{}-{seq}", name.to_string_lossy(), std::process::id()));
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        // A temporary a crashed process with the same pid left keeps the mode it was made with
        // (`mode` applies only to a new file): set it on what is open, before any byte is in it.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
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

/// Creates `path` and its missing parents with `mode` (a directory that exists keeps its mode:
/// one `mkdir` per missing component, nothing more on a path that is there). `mkdir` clears the
/// umask's bits from `mode`; the daemon's umask, 022, leaves the modes used here (0700, 0701,
/// 0710) as they are.
pub fn create_dir_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(path)?;
    traversable_by_remapped_root(path, mode)
}

/// The host ids of the remapped root under `--userns-remap`; set once at start-up.
static REMAPPED_ROOT: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();

/// Under `--userns-remap` the directories that are `0710` (the data-roots, `containers/` and
/// each container's, the stores and each storage directory) become `root:<remapped gid>`, as
/// Docker's: the container's root, a plain user on the host, must traverse them to reach its
/// rootfs, its `/etc/hosts` and its volumes, and nobody else may.
pub fn set_remapped_root(uid: u32, gid: u32) {
    let _ = REMAPPED_ROOT.set((uid, gid));
}

/// `(uid, gid)` of the remapped root, when the daemon remaps.
pub fn remapped_root() -> Option<(u32, u32)> {
    REMAPPED_ROOT.get().copied()
}

pub fn traverse_group() -> Option<u32> {
    remapped_root().map(|(_, g)| g)
}

fn traversable_by_remapped_root(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match traverse_group() {
        Some(gid) if mode == 0o710 && fs::metadata(path)?.gid() != gid => {
            std::os::unix::fs::chown(path, None, Some(gid))
        }
        _ => Ok(()),
    }
}

/// [`create_dir_mode`], and a directory that exists with another mode gets `mode`: for the
/// directories whose mode guards everything below them (the data-root, the exec-root, the
/// stores), which an older release made 0755. Returns the mode found, when it was changed.
pub fn ensure_dir_mode(path: &Path, mode: u32) -> io::Result<Option<u32>> {
    create_dir_mode(path, mode)?;
    let found = fs::metadata(path)?.permissions().mode() & 0o7777;
    traversable_by_remapped_root(path, mode)?;
    if found == mode {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(Some(found))
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
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

/// Whether some process holds a `flock` on `path` (a running daemon on its pid file), seen from
/// outside rather than by trying the lock: a probe that took the lock even for an instant could
/// make that daemon's own start fail with "already running".
///
/// The holder the file names is asked first, through its own fd table: `/proc/<pid>/fdinfo`
/// lists the locks of each open file under that file's own lock. Reading `/proc/locks` takes the
/// kernel's global file-lock rwsem for writing, which waits out an RCU grace period (10 ms and
/// more here) and stalls every flock on the host meanwhile; it is read only when the named pid
/// does not hold the lock (no daemon, or one that has not written its pid yet).
pub fn is_flocked(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else { return false };
    let key = lock_key(&meta);
    let named = fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u32>().ok());
    if named.is_some_and(|pid| holds_flock(pid, &meta, &key)) {
        return true;
    }
    fs::read_to_string("/proc/locks").is_ok_and(|locks| locks.lines().any(|l| is_flock_line(l, &key)))
}

/// `major:minor:inode` as the kernel prints a lock's file (new_decode_dev's split, in hex).
fn lock_key(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = meta.dev();
    let (major, minor) = ((dev >> 8) & 0xfff | (dev >> 32) & !0xfff, dev & 0xff | (dev >> 12) & !0xff);
    format!("{major:02x}:{minor:02x}:{}", meta.ino())
}

/// "1: FLOCK ADVISORY WRITE 1234 00:1b:5678 0 EOF" (fdinfo prefixes "lock:\t"); a blocked
/// waiter's line has "->".
fn is_flock_line(line: &str, key: &str) -> bool {
    let f: Vec<&str> = line.trim_start_matches("lock:").split_whitespace().collect();
    f.get(1) == Some(&"FLOCK") && !f.contains(&"->") && f.get(5) == Some(&key)
}

/// Whether process `pid` has `meta`'s file open with a flock on it. Its fds are scanned in order
/// and the first open of the file decides: a daemon opens its pid file among its first fds.
fn holds_flock(pid: u32, meta: &fs::Metadata, key: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    let mut fds: Vec<u32> = fds.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    fds.sort_unstable();
    fds.into_iter().any(|fd| {
        let same =
            fs::metadata(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
        same && fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .is_ok_and(|info| info.lines().any(|l| l.starts_with("lock:") && is_flock_line(l, key)))
    })
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
    fn threads_replacing_one_file_at_once_all_succeed() {
        let d = std::env::temp_dir().join(format!("berth-proto-race-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("container.json");
        std::thread::scope(|s| {
            for t in 0..8 {
                let p = &p;
                s.spawn(move || (0..50).for_each(|i| write_json_runtime(p, &(t, i)).unwrap()));
            }
        });
        assert!(read_json::<(u32, u32)>(&p).unwrap().is_some());
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writes_are_private_unless_told_otherwise() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("berth-proto-modes-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let (a, b, c) = (d.join("a.json"), d.join("b"), d.join("hosts"));
        // Stale world-readable temporaries under every name this process's next writes can
        // take, as a crash of a process with the same pid could leave them.
        for seq in 0..64 {
            let stale = d.join(format!(".a.json.tmp{}-{seq}", std::process::id()));
            fs::write(&stale, b"old").unwrap();
            fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).unwrap();
        }
        write_json_atomic(&a, &"secret").unwrap();
        write_runtime(&b, b"x").unwrap();
        write_atomic_mode(&c, b"127.0.0.1 localhost\n", 0o644).unwrap();
        assert_eq!((mode(&a), mode(&b), mode(&c)), (0o600, 0o600, 0o644));
        let sub = d.join("x/y");
        create_dir_mode(&sub, 0o710).unwrap();
        assert_eq!((mode(&d.join("x")), mode(&sub)), (0o710, 0o710));
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(ensure_dir_mode(&sub, 0o710).unwrap(), Some(0o755));
        assert_eq!(ensure_dir_mode(&sub, 0o710).unwrap(), None);
        assert_eq!(mode(&sub), 0o710);
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
        mount(Some("tmpfs"), &inner, Some("tmpfs"), MsFlags::empty(), None::<&str>)
            .expect("mount tmpfs (tests run as root)");
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

    #[test]
    fn is_flocked_sees_a_held_lock_and_its_release() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("berth-flock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pid");
        // A pid that does not hold it: the answer comes from /proc/locks.
        fs::write(&p, b"1").unwrap();
        assert!(!is_flocked(&p));
        let f = File::open(&p).unwrap();
        f.try_lock().unwrap();
        assert!(is_flocked(&p), "fd {} holds the lock", f.as_raw_fd());
        let (meta, me) = (fs::metadata(&p).unwrap(), std::process::id());
        assert!(!holds_flock(1, &meta, &lock_key(&meta)));
        // The holder named in the file: seen in its own fdinfo.
        fs::write(&p, me.to_string()).unwrap();
        assert!(holds_flock(me, &meta, &lock_key(&meta)));
        assert!(is_flocked(&p));
        drop(f);
        assert!(!holds_flock(me, &meta, &lock_key(&meta)));
        assert!(!is_flocked(&p));
        assert!(!is_flocked(&dir.join("absent")));
        fs::remove_dir_all(&dir).unwrap();
    }
}
