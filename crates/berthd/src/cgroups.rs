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

/// The parent used when neither the daemon's `cgroup-parent` nor the container's names one.
pub const DEFAULT_PARENT: &str = "/berth";

/// Checks a `cgroup-parent` as Docker's cgroupfs driver takes it: a path of cgroup names, absolute
/// (under the hierarchy's root) or relative (under the daemon's own cgroup). Returns it without
/// repeated or trailing slashes.
pub fn normalize_parent(p: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("invalid cgroup parent \"{p}\": {why}"));
    let names: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if names.is_empty() {
        return bad("it names no cgroup");
    }
    if p.len() > 512 {
        return bad("longer than 512 bytes");
    }
    for n in &names {
        if *n == "." || *n == ".." {
            return bad("'.' and '..' are not allowed");
        }
        if !n.chars().all(|c| c.is_ascii_alphanumeric() || "._-:@+".contains(c)) {
            return bad("names may hold letters, digits and . _ - : @ + only");
        }
    }
    let joined = names.join("/");
    Ok(if p.starts_with('/') { format!("/{joined}") } else { joined })
}

/// The absolute cgroup path of a container under `parent` (already normalized). A relative parent
/// is placed under the daemon's own cgroup, as Docker does; the result is recorded with the
/// container, so a daemon later started elsewhere or with another parent still finds it.
pub fn container_path(parent: &str, id: &str) -> String {
    if parent.starts_with('/') {
        return format!("{parent}/{id}");
    }
    let own = own_cgroup().unwrap_or_default();
    format!("{}/{parent}/{id}", own.trim_end_matches('/'))
}

/// This process's cgroup: the v2 path on a pure v2 host, else the memory controller's v1 path
/// (the controller the container's limits live in).
fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let line = |want: &dyn Fn(&str) -> bool| {
        text.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            want(ctrl).then(|| path.to_string())
        })
    };
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return line(&|c| c.is_empty());
    }
    line(&|c| c.split(',').any(|x| x == "memory")).or_else(|| line(&|c| c.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_checked_and_placed() {
        assert_eq!(normalize_parent("/berth").unwrap(), "/berth");
        assert_eq!(normalize_parent("//a//b/").unwrap(), "/a/b");
        assert_eq!(normalize_parent("ci/jobs").unwrap(), "ci/jobs");
        for bad in ["", "/", "/a/../b", "a/./b", "/a b", "/a\nb"] {
            let e = normalize_parent(bad).unwrap_err();
            assert!(e.contains("invalid cgroup parent"), "{bad:?}: {e}");
        }
        assert_eq!(container_path("/ci", "abc"), "/ci/abc");
        let rel = container_path("ci", "abc");
        assert!(rel.starts_with('/') && rel.ends_with("/ci/abc"), "{rel}");
        let own = own_cgroup().expect("own cgroup");
        assert_eq!(rel, format!("{}/ci/abc", own.trim_end_matches('/')));
    }
}
