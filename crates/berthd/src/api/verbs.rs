//! `rename`, `pause`/`unpause`, `top` and `update`, with Docker's answers and wording.

use super::body::JsonBody;
use super::{ApiError, AppState};
use crate::cgroupctl;
use crate::cgroupstats::{Cpu, Sample};
use crate::model::Status;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{
    BlkioStatEntry, BlkioStats, ContainerStats, ContainerTopResponse, ContainerUpdateResponse, CpuStats, CpuUsage,
    MemoryStats, NetworkStats, PidsStats, ThrottlingData,
};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

fn not_running(id: &str) -> ApiError {
    ApiError::conflict(format!("Container {id} is not running"))
}

pub async fn rename(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<StatusCode, ApiError> {
    let e = d.store.get(&id)?;
    let new = q.get("name").map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default();
    if new.is_empty() {
        return Err(ApiError::bad_request("Neither old nor new names may be empty"));
    }
    if !crate::engine::store::valid_name(&new) {
        return Err(ApiError::bad_request(format!(
            "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let _op = e.op.lock().await;
    let c = e.snapshot();
    if c.name == new {
        return Err(ApiError::bad_request("Renaming a container with the same name as its current name"));
    }
    // The store's name check and the record's update under one lock: two renames never race to
    // the same name.
    d.store.rename(&c.id, &new).map_err(|other| {
        ApiError::conflict(format!(
            "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        ))
    })?;
    e.update(|x| x.name = new.clone())?;
    let mut attrs = crate::engine::lifecycle::attrs(&e.snapshot());
    attrs.insert("oldName".into(), format!("/{}", c.name));
    d.events.emit("container", "rename", &c.id, attrs);
    // Peers on user networks know it by its new name.
    let (d2, nets) = (d.clone(), c.endpoints().map(|ep| ep.network.clone()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || nets.iter().for_each(|n| d2.net.refresh_hosts(&d2, n))).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_paused(d: &AppState, id: &str, pause: bool) -> Result<StatusCode, ApiError> {
    let e = d.store.get(id)?;
    let _op = e.op.lock().await;
    let c = e.snapshot();
    match (c.state.status, pause) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Err(ApiError::conflict(format!("Container {} is already paused", c.id))),
        (Status::Running, false) => return Err(ApiError::conflict(format!("Container {} is not paused", c.id))),
        _ => return Err(not_running(&c.id)),
    }
    let path = c.options.cgroups_path.clone();
    tokio::task::spawn_blocking(move || cgroupctl::freeze(&path, pause)).await?.map_err(ApiError::internal)?;
    e.update(|x| x.state.status = if pause { Status::Paused } else { Status::Running })?;
    d.events.emit("container", if pause { "pause" } else { "unpause" }, &c.id, crate::engine::lifecycle::attrs(&c));
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    set_paused(&d, &id, true).await
}

pub async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    set_paused(&d, &id, false).await
}

/// `docker top`: the host's `ps` (with the caller's `ps_args`), narrowed to the container's
/// processes.
pub async fn top(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Json<ContainerTopResponse>, ApiError> {
    let c = d.store.get(&id)?.snapshot();
    if !c.state.status.is_live() {
        return Err(not_running(&c.id));
    }
    let args = q.get("ps_args").filter(|a| !a.is_empty()).cloned().unwrap_or_else(|| "-ef".into());
    let pids = cgroupctl::pids(&c.options.cgroups_path);
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::internal(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles
        .iter()
        .position(|t| *t == "PID")
        .ok_or_else(|| ApiError::internal(format!("Couldn't find PID field in ps output (ps {args})")))?;
    let mut processes = Vec::new();
    for l in lines {
        // The last column (the command) may hold spaces: split into titles.len() fields at most.
        let fields: Vec<String> = split_n(l, titles.len());
        if fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            processes.push(fields);
        }
    }
    let titles = titles.into_iter().map(String::from).collect();
    Ok(Json(ContainerTopResponse { titles, processes }))
}

fn split_n(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() + 1 < n {
        match rest.find(char::is_whitespace) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start();
            }
            None => break,
        }
    }
    out.push(rest.to_string());
    out
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<crate::model::RestartPolicy>,
}

/// `docker update`: new limits go to the running container's cgroup and into its record (so a
/// restart keeps them); a new restart policy is recorded.
pub async fn update(
    State(d): State<AppState>,
    Path(id): Path<String>,
    JsonBody(u): JsonBody<UpdateRequest>,
) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let _op = e.op.lock().await;
    let c = e.snapshot();
    let mut h = c.host_config.clone();
    let set = |v: Option<i64>, into: &mut Option<i64>| {
        if let Some(v) = v.filter(|v| *v != 0) {
            *into = Some(v);
        }
    };
    set(u.memory, &mut h.memory);
    set(u.memory_swap, &mut h.memory_swap);
    set(u.nano_cpus, &mut h.nano_cpus);
    set(u.cpu_shares, &mut h.cpu_shares);
    set(u.cpu_quota, &mut h.cpu_quota);
    set(u.cpu_period, &mut h.cpu_period);
    set(u.pids_limit, &mut h.pids_limit);
    if let Some(rp) = u.restart_policy.clone().filter(|rp| rp.name.as_deref().is_some_and(|n| !n.is_empty())) {
        if h.auto_remove.unwrap_or(false) && rp.name.as_deref() != Some("no") {
            return Err(ApiError::bad_request(
                "Cannot update restart policy: can't create 'AutoRemove' container with restart policy",
            ));
        }
        h.restart_policy = Some(rp);
    }
    crate::engine::lifecycle::create::validate_host_config(&h)?;
    if h.memory.unwrap_or(0) > 0 && h.memory_swap.unwrap_or(0) > 0 && h.memory_swap < h.memory {
        return Err(ApiError::bad_request("Minimum memoryswap limit should be larger than memory limit, see usage"));
    }
    if c.state.status.is_live() {
        let (quota, period) = match h.nano_cpus.unwrap_or(0) {
            n if n > 0 && u.nano_cpus.is_some() => (n * 100_000 / 1_000_000_000, 100_000),
            _ => (u.cpu_quota.unwrap_or(0), u.cpu_period.unwrap_or(0)),
        };
        let limits = cgroupctl::Limits {
            memory: u.memory.unwrap_or(0),
            memory_swap: u.memory_swap.unwrap_or(0),
            cpu_quota: quota,
            cpu_period: period,
            cpu_shares: u.cpu_shares.unwrap_or(0),
            pids_limit: u.pids_limit.unwrap_or(0),
        };
        let path = c.options.cgroups_path.clone();
        tokio::task::spawn_blocking(move || cgroupctl::update(&path, &limits))
            .await?
            .map_err(|m| ApiError::internal(format!("Cannot update container {}: {m}", c.id)))?;
    }
    let policy_changed = u.restart_policy.is_some() && h.restart_policy != c.host_config.restart_policy;
    e.update(|x| x.host_config = h)?;
    if policy_changed && c.state.status.is_live() {
        // The running monitor honours the policy while the daemon is away: it reads this file.
        let spec = crate::engine::lifecycle::restart::monitor_spec(&e.snapshot());
        berth_proto::fsutil::write_json_atomic(&e.dir.join(berth_proto::paths::RESTART_POLICY), &spec)
            .map_err(|err| ApiError::internal(err.to_string()))?;
    }
    d.events.emit("container", "update", &c.id, crate::engine::lifecycle::attrs(&c));
    // dockerd's warnings start nil: `null` when there are none.
    Ok(Json(ContainerUpdateResponse { warnings: None }).into_response())
}

fn cpu_stats(c: &Cpu) -> CpuStats {
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: c.total,
            percpu_usage: None,
            usage_in_kernelmode: c.kernel,
            usage_in_usermode: c.user,
        },
        system_cpu_usage: Some(c.system),
        online_cpus: Some(c.online_cpus as u32),
        throttling_data: ThrottlingData {
            periods: c.periods,
            throttled_periods: c.throttled_periods,
            throttled_time: c.throttled_time,
        },
    }
}

/// Docker's stats document: `now` against `before` (the CPU percentage is their difference).
/// Without a sample (a stopped container) the counters are zero and the times Go's zero time.
fn document(id: &str, name: &str, now: Option<&Sample>, before: Option<&Sample>) -> ContainerStats {
    const ZERO: &str = "0001-01-01T00:00:00Z";
    let read = |s: Option<&Sample>| s.map(|s| s.read.clone()).unwrap_or_else(|| ZERO.into());
    let blkio = now.map(|s| {
        s.blkio
            .iter()
            .map(|b| BlkioStatEntry { major: b.major, minor: b.minor, op: b.op.clone(), value: b.value })
            .collect()
    });
    let networks = now.filter(|s| !s.networks.is_empty()).map(|s| {
        s.networks
            .iter()
            .map(|(name, i)| {
                let n = NetworkStats {
                    rx_bytes: i.rx_bytes,
                    rx_packets: i.rx_packets,
                    rx_errors: i.rx_errors,
                    rx_dropped: i.rx_dropped,
                    tx_bytes: i.tx_bytes,
                    tx_packets: i.tx_packets,
                    tx_errors: i.tx_errors,
                    tx_dropped: i.tx_dropped,
                    ..Default::default()
                };
                (name.clone(), n)
            })
            .collect()
    });
    ContainerStats {
        id: Some(id.to_string()),
        name: Some(format!("/{name}")),
        read: read(now),
        preread: read(before),
        num_procs: 0,
        cpu_stats: now.map(|s| cpu_stats(&s.cpu)).unwrap_or_default(),
        precpu_stats: before.map(|s| cpu_stats(&s.cpu)).unwrap_or_default(),
        memory_stats: now
            .map(|s| MemoryStats {
                usage: Some(s.memory.usage),
                limit: Some(s.memory.limit),
                stats: Some(s.memory.stats.clone()),
                ..Default::default()
            })
            .unwrap_or_default(),
        pids_stats: now.map(|s| PidsStats { current: Some(s.pids.current), limit: s.pids.limit }).unwrap_or_default(),
        blkio_stats: BlkioStats { io_service_bytes_recursive: blkio, ..Default::default() },
        storage_stats: Default::default(),
        networks,
    }
}

fn stats_sample(e: &crate::engine::store::Entry) -> Option<Sample> {
    let c = e.snapshot();
    (c.state.status.is_live() && c.state.pid > 0)
        .then(|| crate::cgroupstats::sample(&c.options.cgroups_path, c.state.pid))
}

/// `docker stats`: one document a second, or one only (`stream=false`), which waits a second for
/// the CPU figures unless `one-shot`, as dockerd.
pub async fn stats(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let stream = q.get("stream").is_none_or(|v| super::body::qbool(Some(v)));
    let doc = |now: Option<&Sample>, before: Option<&Sample>| {
        let c = e.snapshot();
        document(&c.id, &c.name, now, before)
    };
    if !stream {
        let mut before = None;
        if !super::body::qbool(q.get("one-shot")) {
            before = stats_sample(&e);
            if before.is_some() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
        return Ok(Json(doc(stats_sample(&e).as_ref(), before.as_ref())).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
    tokio::spawn(async move {
        let mut before = None;
        loop {
            let now = stats_sample(&e);
            let c = e.snapshot();
            let mut line =
                serde_json::to_vec(&document(&c.id, &c.name, now.as_ref(), before.as_ref())).unwrap_or_default();
            line.push(b'\n');
            if tx.send(line.into()).await.is_err() {
                return;
            }
            before = now;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::io::Error>,
    ));
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}
