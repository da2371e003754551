//! `GET /containers/{id}/stats`: one stats sample (Go's `container.StatsResponse`), streamed
//! one per second or sent once with `stream=false`.
//!
//! Go marks the nested structs `omitempty`, which does nothing for struct values: `pids_stats`,
//! `blkio_stats`, `storage_stats`, `cpu_stats`, `precpu_stats`, `memory_stats` and
//! `throttling_data` are always sent (as `{}`-like objects when empty). Scalar `omitempty`
//! fields are `Option`s here, skipped when `None`. The blkio lists are `null` on cgroup v2
//! except `io_service_bytes_recursive` and `io_serviced_recursive`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One stats sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerStats {
    /// The container name with its leading slash: "/web".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// RFC 3339 with nanoseconds.
    pub read: String,
    /// The time of the previous sample; "0001-01-01T00:00:00Z" in the first one.
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    /// Windows only; 0 on Linux.
    pub num_procs: u32,
    /// Windows only.
    pub storage_stats: StorageStats,
    pub cpu_stats: CpuStats,
    /// The previous sample's `cpu_stats`, for computing a percentage.
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    /// Per interface ("eth0"); absent for a container without network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Absent when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Block I/O counters. Each list is `null` when the cgroup does not report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// `{"major": 8, "minor": 0, "op": "read", "value": 4096}`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    /// "read", "write", "sync", "async", "discard", "total" (lowercase on cgroup v2).
    pub op: String,
    pub value: u64,
}

/// Windows only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_count_normalized: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_count_normalized: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// Host CPU time in nanoseconds; Linux only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    pub throttling_data: ThrottlingData,
}

/// CPU time in nanoseconds (100 ns units on Windows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total_usage: u64,
    /// cgroup v1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

/// Memory counters in bytes; the Windows-only ones are `commitbytes`, `commitpeakbytes` and
/// `privateworkingset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// cgroup v1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// The cgroup's `memory.stat` (cgroup v2: `anon`, `file`, `inactive_file`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<BTreeMap<String, u64>>,
    /// cgroup v1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failcnt: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(rename = "commitbytes", skip_serializing_if = "Option::is_none")]
    pub commit_bytes: Option<u64>,
    #[serde(rename = "commitpeakbytes", skip_serializing_if = "Option::is_none")]
    pub commit_peak_bytes: Option<u64>,
    #[serde(rename = "privateworkingset", skip_serializing_if = "Option::is_none")]
    pub private_working_set: Option<u64>,
}

/// Counters of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    /// Windows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// Windows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}
