//! The exit record, and whether the kernel's OOM killer was involved.

use berth_proto::ExitRecord;
use std::path::{Path, PathBuf};

/// Where the container's memory accounting lives, found while the init is alive (the cgroup
/// outlives the init until `runtime delete`, /proc/<pid>/cgroup does not).
#[derive(Debug, Clone)]
pub enum MemoryCgroup {
    /// cgroup v1: `<dir>/memory.oom_control` has `oom_kill N`.
    V1(PathBuf),
    /// cgroup v2: `<dir>/memory.events` has `oom_kill N`.
    V2(PathBuf),
    Unknown,
}

impl MemoryCgroup {
    pub fn of(pid: i32) -> Self {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return MemoryCgroup::Unknown;
        };
        Self::parse(&text, Path::new("/sys/fs/cgroup"))
    }

    fn parse(text: &str, root: &Path) -> Self {
        let mut v2 = None;
        for line in text.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if ctrls.split(',').any(|c| c == "memory") {
                return MemoryCgroup::V1(root.join("memory").join(rel));
            }
            if ctrls.is_empty() {
                v2 = Some(root.join(rel));
            }
        }
        match v2 {
            // On a hybrid host the unified hierarchy has no memory controller; the v1 line wins above.
            Some(p) if root.join("cgroup.controllers").exists() => MemoryCgroup::V2(p),
            _ => MemoryCgroup::Unknown,
        }
    }

    /// True when the cgroup recorded at least one OOM kill.
    pub fn oom_killed(&self) -> bool {
        let file = match self {
            MemoryCgroup::V1(d) => d.join("memory.oom_control"),
            MemoryCgroup::V2(d) => d.join("memory.events"),
            MemoryCgroup::Unknown => return false,
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return false;
        };
        text.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some("oom_kill") && f.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) > 0
        })
    }
}

/// Builds the record from a wait status.
pub fn record(pid: i32, status: WaitOutcome, oom_killed: bool) -> ExitRecord {
    let (exit_code, signal) = match status {
        WaitOutcome::Exited(c) => (c, None),
        WaitOutcome::Signaled(s) => (128 + s, Some(s)),
    };
    ExitRecord { exit_code, signal, finished_at: crate::timefmt::now(), pid, oom_killed, unknown: false }
}

/// The end of an adopted init, which is not our child: gone, but how is not ours to know.
pub fn unknown(pid: i32) -> ExitRecord {
    ExitRecord {
        exit_code: -1,
        signal: None,
        finished_at: crate::timefmt::now(),
        pid,
        oom_killed: false,
        unknown: true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Exited(i32),
    Signaled(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_memory_line() {
        let t = "12:pids:/x\n4:cpu,cpuacct:/x\n7:memory:/berth/abc\n0::/x\n";
        match MemoryCgroup::parse(t, Path::new("/sys/fs/cgroup")) {
            MemoryCgroup::V1(p) => assert_eq!(p, Path::new("/sys/fs/cgroup/memory/berth/abc")),
            o => panic!("{o:?}"),
        }
        let me = MemoryCgroup::of(std::process::id() as i32);
        assert!(!matches!(me, MemoryCgroup::Unknown), "this host has a memory controller: {me:?}");
    }

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(record(1, WaitOutcome::Exited(3), false).exit_code, 3);
        let r = record(1, WaitOutcome::Signaled(9), true);
        assert_eq!((r.exit_code, r.signal, r.oom_killed), (137, Some(9), true));
    }
}
