//! linux.resources land in the real cgroup files (cgroup v1 on this host; v2 paths if unified).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(10);

fn is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

/// Hosts mount the cpu controller alone or co-mounted with cpuacct.
fn cpu_ctrl() -> &'static str {
    if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
        "cpu"
    } else {
        "cpu,cpuacct"
    }
}

#[test]
fn memory_pids_cpu_limits_are_applied_and_updated() {
    become_subreaper();
    let c = TestContainer::new("echo up; sleep 1000");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.bundle.join("config.json")).unwrap()).unwrap();
    cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 * 1024 * 1024});
    cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 42});
    cfg["linux"]["resources"]["cpu"] = serde_json::json!({"quota": 50000, "period": 100000});
    c.write_config(&cfg);
    assert!(c.create().success(), "{}", std::fs::read_to_string(&c.stdout_path).unwrap());
    let pid = c.init_pid().unwrap();

    let (mem, pids, cpu, procs) = if is_v2() {
        let base = Path::new("/sys/fs/cgroup").join(c.cgroup.trim_start_matches('/'));
        (base.join("memory.max"), base.join("pids.max"), base.join("cpu.max"), base.join("cgroup.procs"))
    } else {
        (
            cgroup_v1_file("memory", &c.cgroup, "memory.limit_in_bytes"),
            cgroup_v1_file("pids", &c.cgroup, "pids.max"),
            cgroup_v1_file(cpu_ctrl(), &c.cgroup, "cpu.cfs_quota_us"),
            cgroup_v1_file("memory", &c.cgroup, "cgroup.procs"),
        )
    };
    assert_eq!(read(&mem), (64 * 1024 * 1024).to_string());
    assert_eq!(read(&pids), "42");
    if is_v2() {
        assert_eq!(read(&cpu), "50000 100000");
    } else {
        assert_eq!(read(&cpu), "50000");
        assert_eq!(read(&cgroup_v1_file(cpu_ctrl(), &c.cgroup, "cpu.cfs_period_us")), "100000");
    }
    assert!(read(&procs).lines().any(|l| l == pid.to_string()), "init not in its cgroup");

    c.run_ok(&["start", &c.id]);
    c.wait_output("up", T);
    let out = c.run_ok(&["ps", "--format", "json", &c.id]);
    let listed: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed.contains(&pid), "{listed:?}");

    let res = c.dir.path().join("res.json");
    std::fs::write(&res, r#"{"memory":{"limit":33554432},"pids":{"limit":17}}"#).unwrap();
    c.run_ok(&["update", "--resources", res.to_str().unwrap(), &c.id]);
    assert_eq!(read(&mem), "33554432");
    assert_eq!(read(&pids), "17");

    c.run_ok(&["pause", &c.id]);
    assert_eq!(c.state()["status"], "paused");
    c.run_ok(&["resume", &c.id]);
    assert_eq!(c.state()["status"], "running");

    c.run_ok(&["kill", &c.id, "SIGKILL"]);
    reap(pid, T);
    c.wait_status("stopped", T);
    c.run_ok(&["delete", &c.id]);
    assert!(!mem.parent().unwrap().exists(), "cgroup left behind: {}", mem.display());
}
