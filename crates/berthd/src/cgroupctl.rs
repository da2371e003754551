//! Writing to a running container's cgroup: freeze and thaw (`pause`/`unpause`), new limits
//! (`update`), and the processes in it (`top`). cgroup v1 (one hierarchy per controller) and v2
//! (one unified hierarchy) alike; the path is the one recorded at create.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new("/sys/fs/cgroup")
}

pub(crate) fn is_v2() -> bool {
    root().join("cgroup.controllers").exists()
}

/// The container's directory for `controller` (v1), or its one directory (v2).
pub(crate) fn dir(cgroups_path: &str, controller: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    if is_v2() {
        root().join(rel)
    } else {
        root().join(controller).join(rel)
    }
}

fn write(path: PathBuf, value: &str) -> Result<(), String> {
    std::fs::write(&path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

/// Freezes (`true`) or thaws the container's processes, and waits until the kernel says so.
pub fn freeze(cgroups_path: &str, frozen: bool) -> Result<(), String> {
    let (file, value, want) = if is_v2() {
        (dir(cgroups_path, "").join("cgroup.freeze"), if frozen { "1" } else { "0" }, None)
    } else {
        (
            dir(cgroups_path, "freezer").join("freezer.state"),
            if frozen { "FROZEN" } else { "THAWED" },
            Some(if frozen { "FROZEN" } else { "THAWED" }),
        )
    };
    write(file.clone(), value)?;
    if let Some(want) = want {
        // v1 passes through FREEZING; a pause is only done once every task is frozen.
        for _ in 0..200 {
            if std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == want) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        return Err(format!("the cgroup did not become {want}"));
    }
    Ok(())
}

/// Whether the container's cgroup (its freezer, on v1) is still there: it goes with the last
/// process of a container that exited.
pub fn exists(cgroups_path: &str) -> bool {
    if is_v2() {
        dir(cgroups_path, "").is_dir()
    } else {
        dir(cgroups_path, "freezer").is_dir()
    }
}

/// True when the container's cgroup is frozen (a paused container, also across restarts).
pub fn is_frozen(cgroups_path: &str) -> bool {
    if is_v2() {
        std::fs::read_to_string(dir(cgroups_path, "").join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    } else {
        std::fs::read_to_string(dir(cgroups_path, "freezer").join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
    }
}

/// Pids of every process in the container's cgroup.
pub fn pids(cgroups_path: &str) -> Vec<i32> {
    let d = if is_v2() { dir(cgroups_path, "") } else { dir(cgroups_path, "pids") };
    std::fs::read_to_string(d.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// New limits for a running container (`docker update`); 0 leaves one as it is.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpu_shares: i64,
    pub pids_limit: i64,
}

pub fn update(cgroups_path: &str, l: &Limits) -> Result<(), String> {
    if is_v2() {
        let d = dir(cgroups_path, "");
        if l.memory > 0 {
            write(d.join("memory.max"), &l.memory.to_string())?;
        }
        if l.memory_swap > 0 && l.memory > 0 {
            write(d.join("memory.swap.max"), &(l.memory_swap - l.memory).max(0).to_string())?;
        }
        if l.cpu_quota > 0 {
            write(
                d.join("cpu.max"),
                &format!("{} {}", l.cpu_quota, if l.cpu_period > 0 { l.cpu_period } else { 100_000 }),
            )?;
        }
        if l.cpu_shares > 0 {
            // The runtimes' conversion from v1 shares to v2 weight.
            let weight = 1 + ((l.cpu_shares - 2) * 9999) / 262142;
            write(d.join("cpu.weight"), &weight.clamp(1, 10000).to_string())?;
        }
        if l.pids_limit != 0 {
            write(d.join("pids.max"), &if l.pids_limit < 0 { "max".to_string() } else { l.pids_limit.to_string() })?;
        }
        return Ok(());
    }
    let mem = dir(cgroups_path, "memory");
    if l.memory > 0 {
        // memsw must never be below the memory limit: raise it first when growing.
        let swap = if l.memory_swap > 0 { l.memory_swap } else { -1 };
        let _ = write(mem.join("memory.memsw.limit_in_bytes"), &swap.to_string());
        write(mem.join("memory.limit_in_bytes"), &l.memory.to_string())?;
        if l.memory_swap > 0 {
            let _ = write(mem.join("memory.memsw.limit_in_bytes"), &l.memory_swap.to_string());
        }
    }
    let cpu = dir(cgroups_path, "cpu");
    if l.cpu_quota > 0 {
        if l.cpu_period > 0 {
            write(cpu.join("cpu.cfs_period_us"), &l.cpu_period.to_string())?;
        }
        write(cpu.join("cpu.cfs_quota_us"), &l.cpu_quota.to_string())?;
    }
    if l.cpu_shares > 0 {
        write(cpu.join("cpu.shares"), &l.cpu_shares.to_string())?;
    }
    if l.pids_limit != 0 {
        write(
            dir(cgroups_path, "pids").join("pids.max"),
            &if l.pids_limit < 0 { "max".to_string() } else { l.pids_limit.to_string() },
        )?;
    }
    Ok(())
}
