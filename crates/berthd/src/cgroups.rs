//! Tidying container cgroups. The monitor's `runtime delete` removes a container's cgroup when
//! it exits normally; when the monitor is gone (killed, or the container removed as an orphan)
//! nobody else would, so the daemon removes the empty directories itself. `rmdir` only ever
//! succeeds on an empty cgroup, so a live container is never touched.

use std::path::{Path, PathBuf};

/// Every hierarchy mount under /sys/fs/cgroup (v1 controllers, named hierarchies, or v2 itself).
fn hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    std::fs::read_dir(root)
        .map(|rd| rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Removes `path` (e.g. `/berth/<id>`) in every hierarchy where it is empty.
pub fn remove(path: &str) {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return;
    }
    for h in hierarchies() {
        let p = h.join(rel);
        if p.is_dir() {
            if let Err(e) = std::fs::remove_dir(&p) {
                tracing::debug!(path = %p.display(), "cgroup not removed: {e}");
            }
        }
    }
}
