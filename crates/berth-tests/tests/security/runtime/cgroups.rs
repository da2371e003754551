//! Issue 13, point 4: on cgroup v1 the container's `/sys/fs/cgroup` is read-only (Docker's
//! behaviour unless `--privileged`): a container cannot raise its own memory, pids or cpu
//! limits, nor write the host's `name=systemd` hierarchy (`release_agent`); `inspect` and the
//! host's cgroup files keep agreeing on the limits.

use super::daemon;
use berth_tests::{cgroup_dir, DaemonOpts};

const MEM: u64 = 64 * 1024 * 1024;
const PIDS: u64 = 50;
/// `--cpus 0.5` with the default 100 ms period.
const QUOTA: i64 = 50_000;

/// Writes that must all fail, each printed as `<file> rc=<status> <error>`.
const ATTEMPTS: &str = r#"
w() { err=$( (echo "$2" > "$1") 2>&1 ); echo "$1 rc=$? $err"; }
w /sys/fs/cgroup/memory/memory.limit_in_bytes 134217728
w /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 134217728
w /sys/fs/cgroup/pids/pids.max max
w /sys/fs/cgroup/cpu/cpu.cfs_quota_us -1
w /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us -1
w /sys/fs/cgroup/systemd/release_agent /evil
w /sys/fs/cgroup/systemd/notify_on_release 1
w /sys/fs/cgroup/memory/cgroup.procs 1
w /sys/fs/cgroup/new-file x
mkdir /sys/fs/cgroup/memory/child 2>/dev/null; echo "mkdir rc=$?"
"#;

fn host_value(pid: i32, controller: &str, file: &str) -> String {
    let (dir, v2) = cgroup_dir(pid, controller);
    assert!(!v2, "this test is for cgroup v1 hosts");
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

#[test]
fn v1_hierarchies_are_read_only_and_limits_cannot_be_raised() {
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        eprintln!("skipped: no cgroup v1 memory hierarchy on this host");
        return;
    }
    let d = daemon(DaemonOpts::new("rt-cgroups"));
    let limits = ["-m", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    let mut args = vec!["--name", "lim"];
    args.extend(limits);
    args.extend(["busybox", "sleep", "1000"]);
    d.run_detached(&args);
    let out = d.docker_ok(&["exec", "lim", "sh", "-c", ATTEMPTS]);
    for line in out.lines() {
        let path = line.split_whitespace().next().unwrap_or("");
        if line.contains("No such file") || line.contains("nonexistent directory") {
            continue; // a hierarchy this host does not have (cpu,cpuacct comounted or not)
        }
        assert!(!line.contains("rc=0"), "a container wrote {path}: {out}");
        if path.starts_with("/sys") {
            assert!(line.contains("Read-only file system") || line.contains("Permission denied"), "{line}");
        }
    }
    let mounts = d.docker_ok(&["exec", "lim", "cat", "/proc/self/mounts"]);
    // The mount visible at each point is the last one listed there (a read-only bind covers
    // the mount libcontainer made).
    let mut cg = std::collections::BTreeMap::new();
    for l in mounts.lines() {
        if let Some(m) = l.split_whitespace().nth(1).filter(|m| m.starts_with("/sys/fs/cgroup")) {
            cg.insert(m.to_string(), l);
        }
    }
    assert!(cg.len() > 2, "{mounts}");
    for l in cg.values() {
        let opts = l.split_whitespace().nth(3).unwrap_or("");
        assert!(opts.split(',').any(|o| o == "ro"), "not read-only in the container: {l}");
    }
    // The limits as set, seen from the container, inspect and the host.
    let seen = d.docker_ok(&[
        "exec",
        "lim",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), [MEM.to_string(), PIDS.to_string()]);
    let v = d.inspect("lim");
    let hc = &v["HostConfig"];
    assert_eq!(hc["Memory"], MEM);
    assert_eq!(hc["PidsLimit"], PIDS);
    assert_eq!(hc["NanoCpus"], 500_000_000u64);
    let pid = v["State"]["Pid"].as_i64().unwrap() as i32;
    assert_eq!(host_value(pid, "memory", "memory.limit_in_bytes"), MEM.to_string());
    assert_eq!(host_value(pid, "pids", "pids.max"), PIDS.to_string());
    assert_eq!(host_value(pid, "cpu", "cpu.cfs_quota_us"), QUOTA.to_string());
    // The host's name=systemd root is untouched.
    if let Ok(agent) = std::fs::read_to_string("/sys/fs/cgroup/systemd/release_agent") {
        assert_ne!(agent.trim(), "/evil");
    }
    d.docker_ok(&["rm", "-f", "lim"]);

    // --privileged keeps Docker's read-write cgroup mounts.
    let mut args = vec!["run", "--rm", "--privileged"];
    args.extend(limits);
    args.extend(["busybox", "sh", "-c", "echo 67108864 > /sys/fs/cgroup/memory/memory.limit_in_bytes && echo ok"]);
    assert_eq!(d.docker_ok(&args), "ok", "--privileged: /sys/fs/cgroup stays writable, as under Docker");
}
