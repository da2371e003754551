//! Reading a container's usage for `docker stats`: the cgroup's counters (v1 or v2), the host's
//! CPU time, and the interfaces of the container's network namespace, shaped as Docker's stats
//! JSON so that the CLI's percentages come out right.

use crate::cgroupctl::{dir, is_v2};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

fn read_u64(p: PathBuf) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat) as a JSON object of numbers.
fn flat_keyed(p: PathBuf) -> Map<String, Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| v.trim().parse::<u64>().ok().map(|v| (k.to_string(), json!(v))))
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

fn cpu(cgroups_path: &str) -> Value {
    let get = |s: &Map<String, Value>, k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
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
    json!({
        "cpu_usage": {"total_usage": total, "usage_in_usermode": user, "usage_in_kernelmode": kernel},
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": online_cpus(),
        "throttling_data": {"periods": throttling.0, "throttled_periods": throttling.1, "throttled_time": throttling.2},
    })
}

fn memory(cgroups_path: &str) -> Value {
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
    json!({"usage": usage.unwrap_or(0), "limit": limit, "stats": stats})
}

fn pids(cgroups_path: &str) -> Value {
    let d = if is_v2() { dir(cgroups_path, "") } else { dir(cgroups_path, "pids") };
    let current = read_u64(d.join("pids.current")).unwrap_or(0);
    match read_u64(d.join("pids.max")) {
        Some(limit) => json!({"current": current, "limit": limit}),
        None => json!({"current": current}),
    }
}

fn blkio(cgroups_path: &str) -> Value {
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
                entries.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": op.0, "value": op.1.parse::<u64>().unwrap_or(0)}));
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
            entries.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": op.to_lowercase(), "value": v.parse::<u64>().unwrap_or(0)}));
        }
    }
    json!({"io_service_bytes_recursive": entries})
}

/// The container's interfaces, from its own network namespace (through its init's /proc).
fn networks(pid: i32) -> Value {
    let mut out = Map::new();
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
            json!({"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3], "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}),
        );
    }
    Value::Object(out)
}

/// One sample of a running container.
pub struct Sample {
    pub read: String,
    pub cpu: Value,
    pub memory: Value,
    pub pids: Value,
    pub blkio: Value,
    pub networks: Value,
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

/// Docker's stats document: `now` against `before` (the CPU percentage is their difference).
pub fn document(id: &str, name: &str, now: Option<&Sample>, before: Option<&Sample>) -> Value {
    const ZERO: &str = "0001-01-01T00:00:00Z";
    let empty_cpu = json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}});
    let mut doc = json!({
        "id": id,
        "name": format!("/{name}"),
        "read": now.map(|s| s.read.clone()).unwrap_or_else(|| ZERO.into()),
        "preread": before.map(|s| s.read.clone()).unwrap_or_else(|| ZERO.into()),
        "num_procs": 0,
        "cpu_stats": now.map(|s| s.cpu.clone()).unwrap_or(empty_cpu.clone()),
        "precpu_stats": before.map(|s| s.cpu.clone()).unwrap_or(empty_cpu),
        "memory_stats": now.map(|s| s.memory.clone()).unwrap_or(json!({})),
        "pids_stats": now.map(|s| s.pids.clone()).unwrap_or(json!({})),
        "blkio_stats": now.map(|s| s.blkio.clone()).unwrap_or(json!({"io_service_bytes_recursive": null})),
        "storage_stats": {},
    });
    if let Some(s) = now.filter(|s| s.networks.as_object().is_some_and(|m| !m.is_empty())) {
        doc["networks"] = s.networks.clone();
    }
    doc
}
