//! "The engine converged": after a crash and a restart, what the daemon lists is all there is.
//! Every mount, network namespace, veth, cgroup, monitor process, storage directory, state file,
//! address and nftables element belongs to a listed container in the state that needs it.

use crate::TestDaemon;
use std::collections::BTreeMap;
use std::path::Path;

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect()
        })
        .unwrap_or_default()
}

/// Container id → state (`running`, `exited`, `created`, …) as `docker ps -a` lists them.
pub fn listed(d: &TestDaemon) -> BTreeMap<String, String> {
    d.docker_ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"])
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect()
}

fn shim_cmdlines() -> Vec<String> {
    dir_names(Path::new("/proc"))
        .into_iter()
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .filter(|c| c.contains("berth-shim"))
        .collect()
}

/// Panics with every leak found, unless they all go within 5 s (the daemon tidies in the
/// background after its API answers). `gone` are ids of containers the test expects not to exist
/// (rolled back or removed): nothing of theirs may be left anywhere.
pub fn assert_converged(d: &TestDaemon, gone: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut found = leaks(d, gone);
    while !found.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        found = leaks(d, gone);
    }
    assert!(
        found.is_empty(),
        "[{}] not converged:\n  {}\n--- daemon log ---\n{}",
        d.opts.name,
        found.join("\n  "),
        d.log_tail(40)
    );
}

/// Everything that is left over, in words (empty when converged).
pub fn leaks(d: &TestDaemon, gone: &[String]) -> Vec<String> {
    let list = listed(d);
    let mut leaks = Vec::new();
    for (id, state) in &list {
        if !["running", "exited", "created"].contains(&state.as_str()) {
            leaks.push(format!("{id} is left {state}"));
        }
    }
    for id in gone {
        if list.contains_key(id) {
            leaks.push(format!("{id} should be gone but is listed"));
        }
    }
    let running: Vec<&String> = list.iter().filter(|(_, s)| *s == "running").map(|(i, _)| i).collect();
    let not_running: Vec<&String> = list.keys().filter(|i| !running.contains(i)).chain(gone.iter()).collect();

    for dir in dir_names(&d.data_root.join("containers")) {
        if !list.contains_key(&dir) {
            leaks.push(format!("container directory {dir} without a listed container"));
        }
    }
    for driver in ["overlay2", "vfs"] {
        for dir in dir_names(&d.data_root.join("storage").join(driver)) {
            if !list.contains_key(&dir) {
                leaks.push(format!("{driver} storage {dir} without a listed container"));
            }
        }
    }
    for pool in
        dir_names(&d.data_root.join("network")).iter().filter(|n| n.starts_with("ipam-") || n.starts_with("ipam6-"))
    {
        let text = std::fs::read_to_string(d.data_root.join("network").join(pool)).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        for (id, ip) in v["allocations"].as_object().into_iter().flatten() {
            if !list.contains_key(id) {
                leaks.push(format!("address {ip} in {pool} reserved for {id}, which is not listed"));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let shims = shim_cmdlines();
    let exec_root = d.exec_root.display().to_string();
    for id in &not_running {
        for m in mounts.lines().filter_map(|l| l.split(' ').nth(4)) {
            if m.contains(id.as_str()) && (m.starts_with(&*d.data_root.to_string_lossy()) || m.starts_with(&exec_root))
            {
                leaks.push(format!("mount {m} of {id}, which is not running"));
            }
        }
        if d.exec_root.join("netns").join(id.as_str()).exists() {
            leaks.push(format!("network namespace file of {id}, which is not running"));
        }
        let veth = format!("vb{}", &id[..10]);
        if dir_names(Path::new("/sys/class/net")).iter().any(|n| n.starts_with(&veth)) {
            leaks.push(format!("veth {veth}* of {id}, which is not running"));
        }
        if shims.iter().any(|c| c.contains(&exec_root) && c.contains(id.as_str())) {
            leaks.push(format!("a monitor process for {id}, which is not running"));
        }
        for h in dir_names(Path::new("/sys/fs/cgroup")) {
            let p = Path::new("/sys/fs/cgroup").join(&h).join(d.cgroup_parent_name()).join(id.as_str());
            if p.exists() {
                leaks.push(format!("cgroup {} of {id}, which is not running", p.display()));
            }
        }
    }
    for id in &running {
        if !shims.iter().any(|c| c.contains(&exec_root) && c.contains(id.as_str())) {
            leaks.push(format!("{id} is listed running but has no monitor process"));
        }
    }
    for dir in dir_names(&d.exec_root.join("shims")) {
        if !list.contains_key(&dir) {
            leaks.push(format!("monitor state directory {dir} without a listed container"));
        }
    }
    leaks
}
