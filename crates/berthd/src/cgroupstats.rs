//! Reading a container's usage for `docker stats`: the cgroup's counters (v1 or v2), the host's
//! CPU time, and the interfaces of the container's network namespace, in the units Docker's
//! stats use (nanoseconds, bytes) so that the CLI's percentages come out right. The API layer
//! shapes a [`Sample`] into the wire's stats document.

use crate::cgroupctl::{dir, is_v2};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn read_u64(p: PathBuf) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat) as a map of numbers.
fn flat_keyed(p: PathBuf) -> BTreeMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| v.trim().parse::<u64>().ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Host CPU time in nanoseconds, as Docker computes `system_cpu_usage` from /proc/stat.
fn system_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| l.split_whitespace().skip(1).take(7).filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux ABI Berth runs on.
    ticks * 10_000_000
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU time in nanoseconds.
pub struct Cpu {
    pub total: u64,
    pub user: u64,
    pub kernel: u64,
    /// Host CPU time (see `system_cpu_ns`).
    pub system: u64,
    pub online_cpus: u64,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

fn cpu(cgroups_path: &str) -> Cpu {
    let get = |s: &BTreeMap<String, u64>, k: &str| s.get(k).copied().unwrap_or(0);
    let (total, user, kernel, throttling) = if is_v2() {
        let s = flat_keyed(dir(cgroups_path, "").join("cpu.stat"));
        let us = |k: &str| get(&s, k) * 1000;
        let throttling = (get(&s, "nr_periods"), get(&s, "nr_throttled"), us("throttled_usec"));
        (us("usage_usec"), us("user_usec"), us("system_usec"), throttling)
    } else {
        let d = dir(cgroups_path, "cpuacct");
        let s = flat_keyed(d.join("cpuacct.stat"));
        // cpuacct.stat is in USER_HZ ticks; the cpu controller's cpu.stat counts nanoseconds.
        let t = |k: &str| get(&s, k) * 10_000_000;
        let c = flat_keyed(dir(cgroups_path, "cpu").join("cpu.stat"));
        let throttling = (get(&c, "nr_periods"), get(&c, "nr_throttled"), get(&c, "throttled_time"));
        (read_u64(d.join("cpuacct.usage")).unwrap_or(0), t("user"), t("system"), throttling)
    };
    Cpu {
        total,
        user,
        kernel,
        system: system_cpu_ns(),
        online_cpus: online_cpus(),
        periods: throttling.0,
        throttled_periods: throttling.1,
        throttled_time: throttling.2,
    }
}

/// Bytes; `limit` is the host's memory when the cgroup has none.
pub struct Memory {
    pub usage: u64,
    pub limit: u64,
    /// memory.stat.
    pub stats: BTreeMap<String, u64>,
}

fn memory(cgroups_path: &str) -> Memory {
    let (usage, limit, stats) = if is_v2() {
        let d = dir(cgroups_path, "");
        let limit = std::fs::read_to_string(d.join("memory.max")).ok().and_then(|s| s.trim().parse::<u64>().ok());
        (read_u64(d.join("memory.current")), limit, flat_keyed(d.join("memory.stat")))
    } else {
        let d = dir(cgroups_path, "memory");
        let stats = flat_keyed(d.join("memory.stat"));
        (read_u64(d.join("memory.usage_in_bytes")), read_u64(d.join("memory.limit_in_bytes")), stats)
    };
    // No limit reads as "max" or a huge number: Docker shows the host's memory then.
    let host = host_memory();
    let limit = limit.filter(|l| *l < host).unwrap_or(host);
    Memory { usage: usage.unwrap_or(0), limit, stats }
}

pub struct Pids {
    pub current: u64,
    /// None when unlimited ("max").
    pub limit: Option<u64>,
}

fn pids(cgroups_path: &str) -> Pids {
    let d = if is_v2() { dir(cgroups_path, "") } else { dir(cgroups_path, "pids") };
    Pids { current: read_u64(d.join("pids.current")).unwrap_or(0), limit: read_u64(d.join("pids.max")) }
}

/// Bytes read or written on one block device.
pub struct Blkio {
    pub major: u64,
    pub minor: u64,
    /// "read", "write", … (lowercase).
    pub op: String,
    pub value: u64,
}

fn blkio(cgroups_path: &str) -> Vec<Blkio> {
    let mut entries = Vec::new();
    if is_v2() {
        for l in std::fs::read_to_string(dir(cgroups_path, "").join("io.stat")).unwrap_or_default().lines() {
            let mut it = l.split_whitespace();
            let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            for kv in it {
                let op = match kv.split_once('=') {
                    Some(("rbytes", v)) => ("read", v),
                    Some(("wbytes", v)) => ("write", v),
                    _ => continue,
                };
                entries.push(Blkio {
                    major: maj.parse().unwrap_or(0),
                    minor: min.parse().unwrap_or(0),
                    op: op.0.into(),
                    value: op.1.parse().unwrap_or(0),
                });
            }
        }
    } else {
        let f = dir(cgroups_path, "blkio").join("blkio.throttle.io_service_bytes_recursive");
        for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, v] = parts[..] else { continue };
            let Some((maj, min)) = dev.split_once(':') else {
                continue;
            };
            entries.push(Blkio {
                major: maj.parse().unwrap_or(0),
                minor: min.parse().unwrap_or(0),
                op: op.to_lowercase(),
                value: v.parse().unwrap_or(0),
            });
        }
    }
    entries
}

/// One interface's counters, as /proc/net/dev has them.
pub struct Interface {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// The container's interfaces, from its own network namespace (through its init's /proc).
fn networks(pid: i32) -> BTreeMap<String, Interface> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            Interface {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

/// One sample of a running container.
pub struct Sample {
    /// RFC 3339 with nanoseconds.
    pub read: String,
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Vec<Blkio>,
    /// By interface name, without `lo`.
    pub networks: BTreeMap<String, Interface>,
}

pub fn sample(cgroups_path: &str, pid: i32) -> Sample {
    Sample {
        read: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        cpu: cpu(cgroups_path),
        memory: memory(cgroups_path),
        pids: pids(cgroups_path),
        blkio: blkio(cgroups_path),
        networks: networks(pid),
    }
}
