//! Host permissions of the daemon's own trees (issue 13, point 7; modes in
//! `berth_proto::fsutil::modes`, Docker's): no other local user can list, traverse or read the
//! data-root or the exec-root, so no `-e` secret in a record or spec, and nothing a container
//! wrote (a setuid binary in its upper layer or a volume: CVE-2021-41091), can be reached.
//!
//! An older Berth made everything 0755 and 0644. At each start the roots and the stores directly
//! under them get their modes (a dozen `stat`s, on the start path): with the data-root 0710 and
//! the exec-root 0700 (0711 beside a socket, all its entries 0700) root:root, nothing below them is
//! reachable by a user who is neither root nor in the root group, whatever the modes below, so
//! that alone closes every path an upgrade left. What is below is then brought to the modes a
//! fresh installation has, for the root group (which Docker too lets traverse 0710 directories),
//! by one pass in the background, only on the start that found the data-root wider (the first
//! after an upgrade): a stat per container file and storage directory, none on later starts.

use berth_proto::fsutil::{ensure_dir_mode, modes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Gives the data-root, the exec-root and the stores under them their modes, creating what is
/// missing. Returns whether the data-root was found wider than [`modes::DATA_ROOT`], i.e. left by
/// an older release (then [`tighten_below`] has work to do).
///
/// Under `--userns-remap` (`remap_gid`, the remapped root's host gid, also given to
/// `fsutil::set_traverse_group`) `data_root` is `<top>/<uid>.<gid>`: both are `0710`
/// `root:<remapped gid>` as Docker makes them, and the exec-root and its `netns/` `0710` of the
/// same group, since the runtime opens the container's network namespace file from inside the
/// container's user namespace. Without it the top goes back to `root:root`.
pub fn secure_roots(
    top: &Path,
    data_root: &Path,
    exec_root: &Path,
    socket_in_exec_root: bool,
    remap_gid: Option<u32>,
) -> std::io::Result<bool> {
    let exec_mode = match (socket_in_exec_root, remap_gid) {
        (true, _) => modes::EXEC_ROOT_WITH_SOCKET,
        (false, Some(_)) => modes::EXEC_ROOT_REMAPPED,
        (false, None) => modes::EXEC_ROOT,
    };
    let netns_mode = if remap_gid.is_some() { modes::EXEC_ROOT_REMAPPED } else { modes::PRIVATE_DIR };
    let wider = |m: Option<u32>| m.is_some_and(|m| m & !modes::DATA_ROOT != 0);
    let mut widened = wider(ensure_dir_mode(top, modes::DATA_ROOT)?);
    if remap_gid.is_none() {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(top)?.gid() != 0 {
            std::os::unix::fs::chown(top, None, Some(0))?;
        }
    }
    if data_root != top {
        widened |= wider(ensure_dir_mode(data_root, modes::DATA_ROOT)?);
    }
    ensure_dir_mode(exec_root, exec_mode)?;
    if socket_in_exec_root {
        if let Some(gid) = remap_gid {
            std::os::unix::fs::chown(exec_root, None, Some(gid))?;
        }
    }
    for (sub, mode) in [
        ("shims", modes::PRIVATE_DIR),
        ("netns", netns_mode),
        ("runtime", modes::PRIVATE_DIR),
        ("userns", modes::PRIVATE_DIR),
    ] {
        ensure_dir_mode(&exec_root.join(sub), mode)?;
    }
    for (sub, mode) in [
        ("containers", modes::CONTAINER_DIR),
        ("image", modes::PRIVATE_DIR),
        ("storage", modes::STORAGE_DIR),
        ("storage/layers", modes::STORAGE_DIR),
        ("volumes", modes::VOLUMES_DIR),
        ("network", modes::PRIVATE_DIR),
    ] {
        ensure_dir_mode(&data_root.join(sub), mode)?;
    }
    // Drivers' homes exist only once a driver was used: fix them if there, the driver makes
    // them otherwise.
    for driver in ["overlay2", "vfs"] {
        let home = data_root.join("storage").join(driver);
        if home.is_dir() {
            ensure_dir_mode(&home, modes::STORAGE_DIR)?;
        }
    }
    Ok(widened)
}

/// Brings what an older release left below the roots to today's modes; runs beside the API.
pub fn tighten_below_in_background(data_root: PathBuf) {
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let changed = tighten_below(&data_root);
        tracing::info!(changed, elapsed_ms = t0.elapsed().as_millis() as u64, "modes of an older data-root tightened");
    });
}

/// Returns how many entries changed. Only the daemon's own entries are visited, never what a
/// container controls (an upper layer, a volume's `_data`, a vfs rootfs), and a mode is only ever
/// narrowed, never widened.
pub fn tighten_below(data_root: &Path) -> usize {
    let mut n = 0;
    for file in ["engine-id", "events.jsonl", "berthd.lock"] {
        n += narrow(&data_root.join(file), modes::PRIVATE_FILE);
    }
    // Forgotten containers (dot-directories) keep their records too.
    for dir in entries(&data_root.join("containers")) {
        n += narrow(&dir, modes::CONTAINER_DIR);
        for f in entries(&dir) {
            let name = f.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let mode = match name.as_str() {
                // Bind-mounted into the container for its users, as Docker's.
                "hostname" | "hosts" | "resolv.conf" => continue,
                n if n.contains("-json.log") => modes::LOG_FILE,
                _ => modes::PRIVATE_FILE,
            };
            n += narrow(&f, mode);
        }
    }
    for store in ["storage/layers", "storage/overlay2", "storage/vfs"] {
        for dir in entries(&data_root.join(store)) {
            n += narrow(&dir, modes::STORAGE_DIR);
        }
    }
    for vol in entries(&data_root.join("volumes")) {
        n += narrow(&vol.join("volume.json"), modes::PRIVATE_FILE);
    }
    n
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

/// Clears the bits of `path` beyond `max`: 1 when it changed. Symlinks are skipped (chmod would
/// follow them); the directories visited are writable by root alone, so nothing can swap an entry
/// for one between the `lstat` and the `chmod`.
fn narrow(path: &Path, max: u32) -> usize {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if md.file_type().is_symlink() || !(md.is_dir() || md.is_file()) {
        return 0;
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode & !max == 0 {
        return 0;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & max)) {
        Ok(()) => 1,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot narrow the mode");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn chmod(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn an_older_data_root_is_narrowed_and_nothing_a_container_controls_is_touched() {
        let base = std::env::temp_dir().join(format!("berthd-perms-{}", std::process::id()));
        let (data, exec) = (base.join("lib"), base.join("run"));
        let cdir = data.join("containers").join("abc");
        let upper = data.join("storage/overlay2/abc/upper");
        for d in [&cdir, &upper, &data.join("volumes/v/_data"), &exec] {
            std::fs::create_dir_all(d).unwrap();
        }
        for f in ["container.json", "abc-json.log", "abc-json.log.1", "hosts"] {
            std::fs::write(cdir.join(f), "x").unwrap();
            chmod(&cdir.join(f), 0o644);
        }
        std::fs::write(upper.join("planted"), "x").unwrap();
        chmod(&upper.join("planted"), 0o4755);
        std::fs::write(data.join("volumes/v/volume.json"), "{}").unwrap();
        chmod(&data.join("volumes/v/volume.json"), 0o644);
        std::os::unix::fs::symlink("/etc/passwd", cdir.join("link")).unwrap();
        for d in [&data, &exec, &cdir] {
            chmod(d, 0o755);
        }
        assert!(secure_roots(&data, &data, &exec, false, None).unwrap(), "0755 is wider than 0710");
        assert_eq!((mode(&data), mode(&exec), mode(&exec.join("shims"))), (0o710, 0o700, 0o700));
        assert_eq!((mode(&data.join("containers")), mode(&data.join("volumes"))), (0o710, 0o701));
        assert!(tighten_below(&data) >= 5);
        assert_eq!(mode(&cdir), 0o710);
        assert_eq!(mode(&cdir.join("container.json")), 0o600);
        assert_eq!((mode(&cdir.join("abc-json.log")), mode(&cdir.join("abc-json.log.1"))), (0o640, 0o640));
        assert_eq!(mode(&cdir.join("hosts")), 0o644, "bind-mounted for the container's users");
        assert_eq!(mode(&data.join("storage/overlay2/abc")), 0o710);
        assert_eq!(
            (mode(&upper), mode(&upper.join("planted"))),
            (0o755, 0o4755),
            "the container's own files are its own"
        );
        assert_eq!(mode(&data.join("volumes/v/volume.json")), 0o600);
        assert_eq!(mode(Path::new("/etc/passwd")), 0o644, "a symlink is never followed");
        assert!(!secure_roots(&data, &data, &exec, true, None).unwrap(), "already narrowed");
        assert_eq!(mode(&exec), 0o711, "a socket in the exec-root: traversable, not listable");
        assert_eq!(tighten_below(&data), 0);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
