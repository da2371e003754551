//! The drop guard's work: leave the host as it was before the test, whatever state the daemon and
//! its monitors were left in. Every kill goes through a verified identity (pid + start time) of a
//! process proven to belong to this test; every step is best effort and never panics.

use crate::daemon::TestDaemon;
use berth_sys::ProcessIdentity;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn cleanup(d: &mut TestDaemon) {
    if let Some(mut child) = d.take_child() {
        end_daemon_and_helpers(&mut child);
    }
    let ids = container_ids(d);
    // Always a second scan, even after an empty first one: CI once saw a process of the test
    // outlive the guard, and a scan of /proc is cheap next to a leak.
    let mut empty_scans = 0;
    for _ in 0..4 {
        let victims = our_processes(d, &ids);
        if victims.is_empty() {
            empty_scans += 1;
            if empty_scans == 2 {
                break;
            }
            continue;
        }
        for v in &victims {
            let _ = berth_sys::kill_verified(v, libc_sigkill());
        }
        crate::wait_until(Duration::from_secs(2), || victims.iter().all(|v| !v.is_alive()));
    }
    unmount_under(&d.base);
    remove_cgroups(&ids);
    remove_veths(&ids);
    // The daemon's own cgroup parent goes once empty. A shared one (`/berth`, a daemon built
    // without --cgroup-parent) stays: removing it raced with another test's daemon creating a
    // container under it.
    if d.cgroup_parent.is_some() {
        remove_parent(d.cgroup_parent_name());
    }
    if let Some((name, _)) = &d.bridge {
        if Path::new("/sys/class/net").join(name).exists() {
            let _ = std::process::Command::new("ip").args(["link", "del", name]).output();
        }
        // Bridges of the daemon's user-defined networks.
        let nets = std::fs::read_to_string(d.data_root.join("network/networks.json")).unwrap_or_default();
        if let Ok(serde_json::Value::Array(list)) = serde_json::from_str::<serde_json::Value>(&nets) {
            for n in list {
                if let Some(br) = n["bridge"].as_str().filter(|b| b.starts_with("br-")) {
                    let _ = std::process::Command::new("ip").args(["link", "del", br]).output();
                }
            }
        }
        // The daemon's own nftables tables (IPv4, and IPv6 once it had IPv6) are named after
        // its bridge.
        let table = format!("berth_{}", name.replace('-', "_"));
        for family in ["ip", "ip6"] {
            let _ = std::process::Command::new("nft").args(["delete", "table", family, &table]).output();
        }
    }
    if std::env::var_os("BERTH_TEST_KEEP").is_some() {
        eprintln!("BERTH_TEST_KEEP: leaving {}", d.base.display());
        return;
    }
    // Never recurse into something still mounted: that could delete files outside the test.
    if mounts_under(&d.base).is_empty() {
        let _ = std::fs::remove_dir_all(&d.base);
    } else {
        eprintln!("cleanup: mounts remain under {}; not removing it", d.base.display());
    }
}

/// Host-side veths of the daemon's containers (berth-net's `vb`/`vp` + 10 characters of the id
/// [+ `x<n>`]): a daemon killed between creating a pair and moving its peer into the container's
/// namespace leaves both ends in the host's (the leak check found one).
fn remove_veths(ids: &BTreeSet<String>) {
    for id in ids {
        let short: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
        if short.len() < 10 {
            continue;
        }
        for prefix in ["vb", "vp"] {
            for n in 0..8u8 {
                let name = if n == 0 { format!("{prefix}{short}") } else { format!("{prefix}{short}x{n}") };
                if Path::new("/sys/class/net").join(&name).exists() {
                    let _ = std::process::Command::new("ip").args(["link", "del", &name]).output();
                }
            }
        }
    }
}

/// Kills the daemon's whole process group (it leads one: `daemon_command`), then reaps it and waits
/// until no helper of the group is left. The group is signalled only while the daemon is still
/// unreaped (alive or a zombie): its pid, which is the group id, cannot have been reused then.
fn end_daemon_and_helpers(child: &mut std::process::Child) {
    use nix::sys::signal::{killpg, Signal};
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let unreaped = matches!(child.try_wait(), Ok(None));
    if unreaped {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    if unreaped {
        // Members still alive keep the group id reserved, so probing it names no one else.
        crate::wait_until(Duration::from_secs(2), || killpg(pgid, None).is_err());
    }
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every container id this daemon knows about on disk (monitor dirs and container dirs).
fn container_ids(d: &TestDaemon) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for dir in [d.exec_root.join("shims"), d.data_root.join("containers")] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if is_container_id(&n) {
                    ids.insert(n);
                }
            }
        }
    }
    ids
}

/// Processes that provably belong to this test: monitors and inits named in monitor records (with
/// their start times), and any process whose command line names the test's base directory or whose
/// cgroup path names one of its container ids.
fn our_processes(d: &TestDaemon, ids: &BTreeSet<String>) -> Vec<ProcessIdentity> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d.exec_root.join("shims")) {
        for e in rd.flatten() {
            let Ok(text) = std::fs::read(e.path().join("monitor.json")) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
                continue;
            };
            for (p, s) in [("container_pid", "container_start_time"), ("shim_pid", "shim_start_time")] {
                if let (Some(pid), Some(st)) = (v[p].as_i64(), v[s].as_u64()) {
                    let id = ProcessIdentity { pid: pid as i32, start_time: st };
                    if id.is_alive() {
                        out.push(id);
                    }
                }
            }
        }
    }
    let me = std::process::id() as i32;
    let base = d.base.to_string_lossy().into_owned();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || out.iter().any(|i| i.pid == pid) {
            continue;
        }
        // Read the identity first: if the pid is recycled after this, the start time won't match.
        let Some(id) = ProcessIdentity::of(pid) else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cgroup = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        let mine = contains(&cmdline, base.as_bytes()) || ids.iter().any(|c| cgroup.contains(c.as_str()));
        if mine && id.is_alive() {
            out.push(id);
        }
    }
    out
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    !n.is_empty() && h.windows(n.len()).any(|w| w == n)
}

/// True when `p` is a mount point.
pub fn is_mountpoint(p: &Path) -> bool {
    mounts_under(p).iter().any(|m| m == p)
}

/// Mount points at or below `base`, from /proc/self/mountinfo (octal escapes decoded).
fn mounts_under(base: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|p| p.starts_with(base))
        .collect()
}

fn unescape(s: &str) -> String {
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

/// Lazily unmounts everything under `base`, deepest first, a few rounds (stacked mounts).
fn unmount_under(base: &Path) {
    for _ in 0..5 {
        let mut m = mounts_under(base);
        if m.is_empty() {
            return;
        }
        m.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in m {
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Removes (rmdir: only empty ones can go) cgroup directories named after the test's containers,
/// in every mounted hierarchy, a few levels deep. On a pure v2 host the children of /sys/fs/cgroup
/// are walked like v1 hierarchies, which finds the same directories.
fn remove_cgroups(ids: &BTreeSet<String>) {
    if ids.is_empty() {
        return;
    }
    let mut found = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), 0, ids, &mut found);
            }
        }
    }
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    for _ in 0..10 {
        found.retain(|p| std::fs::remove_dir(p).is_err() && p.exists());
        if found.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes `<hierarchy>/<parent>` and everything under it (containers given `--cgroup-parent
/// <parent>/sub`), deepest first, in every hierarchy. The parent is this test's alone, and rmdir
/// only ever removes empty cgroups.
fn remove_parent(parent: &str) {
    let root = Path::new("/sys/fs/cgroup");
    let mut tops = vec![root.join(parent)];
    if let Ok(rd) = std::fs::read_dir(root) {
        tops.extend(rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path().join(parent)));
    }
    let mut found = Vec::new();
    for t in tops.into_iter().filter(|p| p.is_dir()) {
        collect_all(&t, &mut found);
        found.push(t);
    }
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in found {
        if let Err(e) = std::fs::remove_dir(&p) {
            eprintln!("cleanup: cgroup {} not removed: {e}", p.display());
        }
    }
}

fn walk(dir: &Path, depth: usize, ids: &BTreeSet<String>, found: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if ids.iter().any(|id| name.contains(id.as_str())) {
            // Its own children (e.g. runc's sub-cgroups) first.
            walk(&p, depth + 1, ids, found);
            collect_all(&p, found);
            found.push(p);
        } else {
            walk(&p, depth + 1, ids, found);
        }
    }
}

fn collect_all(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_all(&e.path(), found);
            found.push(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b\011c"), "/tmp/a b\tc");
        assert_eq!(unescape(r"/plain\x"), r"/plain\x");
    }

    #[test]
    fn container_ids_are_64_hex() {
        assert!(is_container_id(&"a".repeat(64)));
        assert!(!is_container_id(&"g".repeat(64)));
        assert!(!is_container_id("abc"));
    }
}
