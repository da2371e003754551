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

/// Removes `path` (e.g. `/berth/<id>`) in every hierarchy where it is empty. Returns true when
/// some hierarchy still holds it because it is busy (processes in it).
pub fn remove(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return false;
    }
    let mut busy = false;
    for h in hierarchies() {
        let p = h.join(rel);
        if p.is_dir() {
            if let Err(e) = std::fs::remove_dir(&p) {
                busy |= e.raw_os_error() == Some(libc::EBUSY);
                tracing::debug!(path = %p.display(), "cgroup not removed: {e}");
            }
        }
    }
    busy
}

/// The cgroup a container's monitor moves into (`ShimConfig::monitor_cgroup`) before it runs
/// anything, so that no monitor, and no process a monitor starts, stays in the daemon's cgroup
/// (under systemd, the `berth.service` unit they would pile up in across restarts). It is the
/// container's sibling, `<container cgroup>.monitor` (`/berth/<id>.monitor`), because:
/// - it goes wherever the container's cgroup goes (`--cgroup-parent`), and a limit the user puts
///   on that parent covers the monitors of the containers under it;
/// - it is neither the container's cgroup (the monitor's memory must not count against the
///   container's limit, nor its pid be signalled by a `kill --all` or listed by `top`) nor the
///   parent (cgroup v2 lets no process sit in a cgroup whose children have controllers: a leaf
///   of its own is the only place beside a v2 container);
/// - it is derived from the path recorded with the container, so a daemon started with other
///   defaults removes it, and its name (an id is 64 hex digits) is never another container's.
///
/// A relative `cgroup-parent` places the container under the daemon's own cgroup, as Docker
/// does; its monitor then goes beside it, inside the daemon's subtree — the user's choice.
pub fn monitor_path(container: &str) -> String {
    format!("{}.monitor", container.trim_end_matches('/'))
}

/// Removes the container's cgroup and its monitor's. The monitor of a container that has just
/// exited may still be running its `runtime delete`: a busy cgroup is tried again for a while
/// (rmdir never removes a populated cgroup, so a live process is never touched).
pub async fn remove_with_monitor(container: &str) {
    let monitor = monitor_path(container);
    for _ in 0..150 {
        let busy = remove(container) | remove(&monitor);
        if !busy {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::warn!(cgroup = %monitor, "the container's or its monitor's cgroup is still in use: left in place");
}

/// Removes an exited container's monitor cgroup once its monitor has gone, so a stopped
/// container leaves no empty cgroup behind (its own cgroup the runtime's `delete` removes). The
/// monitor finishes its `runtime delete` after reporting the exit: a busy cgroup is tried again
/// while `still_exited` holds; a start in the meantime makes the cgroup again (the launcher's
/// join makes a cgroup removed under it once more), and rmdir never removes a populated one.
pub async fn remove_monitor_once_gone(container: &str, still_exited: impl Fn() -> bool) {
    let monitor = monitor_path(container);
    for _ in 0..250 {
        if !still_exited() || !remove(&monitor) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::debug!(cgroup = %monitor, "the exited container's monitor cgroup is still in use: left in place");
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
        assert_eq!(monitor_path("/ci/abc"), "/ci/abc.monitor");
        let rel = container_path("ci", "abc");
        assert!(rel.starts_with('/') && rel.ends_with("/ci/abc"), "{rel}");
        let own = own_cgroup().expect("own cgroup");
        assert_eq!(rel, format!("{}/ci/abc", own.trim_end_matches('/')));
    }
}
