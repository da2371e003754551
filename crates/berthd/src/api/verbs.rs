//! `rename`, `pause`/`unpause`, `top`, `update` and `stats`: adapters over the engine's calls, and
//! Docker's stats document built from the engine's samples.

use super::body::JsonBody;
use super::{ApiError, AppState};
use crate::cgroupstats::{Cpu, Sample};
use crate::engine::lifecycle;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{
    BlkioStatEntry, BlkioStats, ContainerStats, ContainerTopResponse, ContainerUpdateRequest, ContainerUpdateResponse,
    CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats, ThrottlingData,
};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn rename(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<StatusCode, ApiError> {
    lifecycle::rename::rename(&d, &id, q.get("name").map(String::as_str).unwrap_or("")).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    lifecycle::pause::set_paused(&d, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    lifecycle::pause::set_paused(&d, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn top(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Json<ContainerTopResponse>, ApiError> {
    let (titles, processes) = crate::engine::top::top(&d, &id, q.get("ps_args").map(String::as_str)).await?;
    Ok(Json(ContainerTopResponse { titles, processes }))
}

pub async fn update(
    State(d): State<AppState>,
    Path(id): Path<String>,
    JsonBody(u): JsonBody<ContainerUpdateRequest>,
) -> Result<Response, ApiError> {
    let spec = super::request::update::spec(u)?;
    lifecycle::update::update(&d, &id, spec).await?;
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
