//! `POST /build`: the classic builder's query options parsed and checked, the context body
//! handed to the engine, its events sent as Docker's JSON stream. An error before the first
//! line (a bad option, a Dockerfile that does not parse, a missing target) is an HTTP error, as
//! dockerd answers it; later ones are the stream's last message.

use super::body::qbool;
use super::imagearchive::error_message;
use super::{ApiError, AppState};
use crate::engine::build::{BuildEvent, BuildSpec, Limits, Out};
use crate::engine::EngineError;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_api::{BuildAux, ErrorDetail, ProgressMessage};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

type Q = Query<Vec<(String, String)>>;

/// The first value of a repeated parameter, as Go's `FormValue` (docker-py sends `dockerfile`
/// twice for a Dockerfile from outside the context: its name in the tar, then its text).
fn one<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn all(q: &[(String, String)], k: &str) -> Vec<String> {
    q.iter().filter(|(n, v)| n == k && !v.is_empty()).map(|(_, v)| v.clone()).collect()
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &[(String, String)], k: &str) -> Result<T, ApiError> {
    match one(q, k).filter(|v| !v.is_empty() && v.as_str() != "null") {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v).map_err(|e| ApiError::bad_request(format!("invalid {k}: {e}"))),
    }
}

fn int_param(q: &[(String, String)], k: &str) -> Result<Option<i64>, ApiError> {
    match one(q, k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(|n| (n != 0).then_some(n))
            .map_err(|_| ApiError::bad_request(format!("invalid {k}: {v:?}"))),
    }
}

/// Every option of `POST /build` in API 1.51 (and `cpusetmems`, which the docker CLI sends).
const KNOWN: [&str; 31] = [
    "dockerfile",
    "t",
    "extrahosts",
    "remote",
    "q",
    "nocache",
    "cachefrom",
    "pull",
    "rm",
    "forcerm",
    "memory",
    "memswap",
    "cpushares",
    "cpusetcpus",
    "cpusetmems",
    "cpuperiod",
    "cpuquota",
    "buildargs",
    "shmsize",
    "squash",
    "labels",
    "networkmode",
    "platform",
    "target",
    "outputs",
    "version",
    "session",
    "buildid",
    "ulimits",
    "isolation",
    "cgroupparent",
];

/// Options the classic builder has no counterpart for are refused by name, never dropped.
fn refuse_unsupported(q: &[(String, String)]) -> Result<(), ApiError> {
    if let Some((k, _)) = q.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown build option {k:?}")));
    }
    if qbool(one(q, "squash")) {
        return Err(ApiError::bad_request("squash is only supported with experimental mode"));
    }
    if one(q, "version").is_some_and(|v| !v.is_empty() && v != "1") {
        return Err(ApiError::bad_request(
            "BuildKit (builder version 2) is not supported by Berth: use the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    for k in ["remote", "outputs", "session", "buildid"] {
        if one(q, k).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::bad_request(format!("the build option {k:?} is not supported by Berth's builder")));
        }
    }
    if let Some(iso) = one(q, "isolation").filter(|v| !v.is_empty() && v.as_str() != "default") {
        return Err(ApiError::bad_request(format!("Unsupported isolation: {iso:?}")));
    }
    if let Some(p) = one(q, "platform").filter(|v| !v.is_empty()) {
        berth_registry::check_platform(p).map_err(ApiError::bad_request)?;
        let host = format!("linux/{}", host_arch());
        if !p.eq_ignore_ascii_case("linux") && !p.to_ascii_lowercase().starts_with(&host) {
            return Err(ApiError::bad_request(format!(
                "platform {p:?} is not supported by Berth's builder: it builds for {host} only"
            )));
        }
    }
    Ok(())
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn spec_of(q: &[(String, String)]) -> Result<BuildSpec, ApiError> {
    refuse_unsupported(q)?;
    let tags = all(q, "t");
    for t in &tags {
        berth_image::normalize_reference(t)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format: {t:?}: {e}")))?;
    }
    let extra_hosts = all(q, "extrahosts");
    Ok(BuildSpec {
        dockerfile: one(q, "dockerfile").cloned().unwrap_or_default(),
        tags,
        build_args: json_param::<BTreeMap<String, Option<String>>>(q, "buildargs")?,
        target: one(q, "target").cloned().filter(|t| !t.is_empty()),
        no_cache: qbool(one(q, "nocache")),
        cache_from: json_param::<Vec<String>>(q, "cachefrom")?,
        pull: qbool(one(q, "pull")),
        // dockerd's default is to remove a step's container once it succeeded.
        rm: one(q, "rm").is_none_or(|v| v.is_empty() || qbool(Some(v))),
        force_rm: qbool(one(q, "forcerm")),
        labels: json_param::<BTreeMap<String, String>>(q, "labels")?,
        network_mode: one(q, "networkmode").cloned().unwrap_or_default(),
        extra_hosts,
        shm_size: int_param(q, "shmsize")?,
        limits: Limits {
            memory: int_param(q, "memory")?,
            memory_swap: int_param(q, "memswap")?,
            cpu_shares: int_param(q, "cpushares")?,
            cpu_period: int_param(q, "cpuperiod")?,
            cpu_quota: int_param(q, "cpuquota")?,
            cpuset_cpus: one(q, "cpusetcpus").cloned().filter(|v| !v.is_empty()),
            cpuset_mems: one(q, "cpusetmems").cloned().filter(|v| !v.is_empty()),
        },
        ulimits: json_param(q, "ulimits")?,
        cgroup_parent: one(q, "cgroupparent").cloned().filter(|v| !v.is_empty()),
        quiet: qbool(one(q, "q")),
    })
}

fn message(ev: BuildEvent) -> ProgressMessage {
    match ev {
        BuildEvent::Stream(s) => ProgressMessage { stream: Some(s), ..Default::default() },
        BuildEvent::Built(id) => ProgressMessage { aux: Some(BuildAux { id }), ..Default::default() },
    }
}

fn failure(e: EngineError) -> ProgressMessage {
    match e {
        EngineError::StepFailed { message, code } => ProgressMessage {
            error: Some(message.clone()),
            error_detail: Some(ErrorDetail { code: Some(code), message }),
            ..Default::default()
        },
        other => error_message(ApiError::from(other).message),
    }
}

fn line(m: &ProgressMessage) -> bytes::Bytes {
    let mut b = serde_json::to_vec(m).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    bytes::Bytes::from(b)
}

pub async fn build(State(d): State<AppState>, Query(q): Q, req: Request) -> Result<Response, ApiError> {
    let spec = match spec_of(&q) {
        Ok(s) => s,
        Err(e) => {
            // The client is still sending its context: read it out, or it sees a broken pipe
            // ("Can't add file … to tar") instead of the refusal.
            let mut body = req.into_body().into_data_stream();
            while let Some(Ok(_)) = futures_util::StreamExt::next(&mut body).await {}
            return Err(e);
        }
    };
    let quiet = spec.quiet;
    // No buffer in between: the reader hands out the received chunks themselves.
    let reader = super::body::BodyReader::new(req.into_body());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let r = crate::engine::build::build(&d, spec, reader, Out::new(tx, quiet)).await;
        let _ = done_tx.send(r);
    });
    let first = tokio::select! {
        biased;
        ev = rx.recv() => ev,
        r = &mut done_rx => match r {
            Ok(Err(e)) => return Err(e.into()),
            _ => rx.recv().await,
        },
    };
    let head = futures_util::stream::iter(first.map(|ev| Ok::<_, std::io::Error>(line(&message(ev)))));
    let rest = futures_util::stream::unfold((rx, Some(done_rx)), |(mut rx, done)| async move {
        if let Some(ev) = rx.recv().await {
            return Some((Ok(line(&message(ev))), (rx, done)));
        }
        let done = done?;
        match done.await {
            Ok(Err(e)) => Some((Ok(line(&failure(e))), (rx, None))),
            _ => None,
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rest));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
