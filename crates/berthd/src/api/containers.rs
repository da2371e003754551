//! `/containers/...` handlers other than logs and attach.

use super::body::{parse_filters, qbool, JsonBody};
use super::{views, ApiError, AppState};
use crate::engine::lifecycle;
use crate::model::{Container, Status};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tracing::Instrument;

type Q = Query<HashMap<String, String>>;

pub async fn create(
    State(d): State<AppState>,
    Query(q): Q,
    JsonBody(req): JsonBody<berth_api::ContainerCreateRequest>,
) -> Result<Response, ApiError> {
    let spec = super::request::create::spec(req, q.get("name").cloned())?;
    let (id, warnings) = lifecycle::create(&d, spec).await?;
    Ok((StatusCode::CREATED, Json(berth_api::ContainerCreateResponse { id, warnings })).into_response())
}

/// `health`: the container's check status (`none` without one).
fn matches(
    c: &Container,
    filters: &BTreeMap<String, Vec<String>>,
    names: &crate::engine::filters::NamePatterns,
    health: &str,
) -> bool {
    let labels = c.config.labels.clone().unwrap_or_default();
    filters.iter().all(|(k, vals)| {
        if k == "label" {
            return crate::engine::filters::labels_match(|k| labels.get(k).map(String::as_str), vals);
        }
        if k == "name" {
            return names.any_matches(&c.name);
        }
        vals.iter().any(|v| match k.as_str() {
            "health" => health == v,
            "id" => c.id.starts_with(v.as_str()),
            "status" => c.state.seen().docker() == v,
            "exited" => c.state.status == Status::Exited && v.parse::<i32>().ok() == Some(c.state.exit_code),
            "ancestor" => c.config.image.as_deref() == Some(v.as_str()) || c.image_id.contains(v.as_str()),
            "network" => &c.options.network_mode == v || c.endpoint_on(v).is_some(),
            // Resolved to creation times by `list` before matching.
            "before" => c.created.as_str() < v.as_str(),
            "since" => c.created.as_str() > v.as_str(),
            _ => false,
        })
    })
}

const FILTER_KEYS: &[&str] =
    &["id", "name", "status", "exited", "label", "ancestor", "network", "before", "since", "health"];

pub async fn list(State(d): State<AppState>, Query(q): Q) -> Result<Json<Vec<berth_api::ContainerSummary>>, ApiError> {
    let mut filters = parse_filters(q.get("filters"))?;
    // `before`/`since` name a container; they compare by its creation time.
    for key in ["before", "since"] {
        if let Some(vals) = filters.get_mut(key) {
            for v in vals.iter_mut() {
                *v = d.store.get(v)?.snapshot().created;
            }
        }
    }
    for (k, vals) in &filters {
        if !FILTER_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
        if k == "status" {
            for v in vals {
                if !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(&v.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'status={v}': Invalid filter value: must be one of created, restarting, running, removing, paused, exited, dead"
                    )));
                }
            }
        }
        if k == "health" {
            if let Some(v) = vals.iter().find(|v| !["starting", "healthy", "unhealthy", "none"].contains(&v.as_str())) {
                return Err(ApiError::bad_request(format!("Unrecognised filter value for health: {v}")));
            }
        }
    }
    let all = qbool(q.get("all"));
    let names = crate::engine::filters::NamePatterns::new(filters.get("name"));
    let limit: i64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(-1);
    // Each container's health record is read once, for the `health` filter and the STATUS text.
    let mut cs: Vec<(Container, Option<String>)> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| all || limit > 0 || c.state.status.is_live() || filters.contains_key("status"))
        .map(|c| {
            let health = crate::engine::health::record(&d, &c).map(|h| h.status);
            (c, health)
        })
        .filter(|(c, h)| matches(c, &filters, &names, h.as_deref().unwrap_or("none")))
        .collect();
    cs.sort_by(|a, b| b.0.created.cmp(&a.0.created));
    if limit > 0 {
        cs.truncate(limit as usize);
    }
    // Sizes are not computed for `ps -s` yet: asked for, they are reported as 0.
    let sizes = qbool(q.get("size")).then_some((0, 0));
    Ok(Json(cs.iter().map(|(c, health)| views::summary(c, sizes, health.as_deref())).collect()))
}

pub async fn inspect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    version: Option<axum::Extension<super::ClientVersion>>,
) -> Result<Json<berth_api::ContainerInspect>, ApiError> {
    let e = d.store.get(&id)?;
    let mut out = views::inspect(&d, &e.snapshot());
    // Before API 1.45 dockerd listed the short id among a user network's aliases (DNSNames has it
    // since 1.44); docker-py 7.1 (API 1.44 by default) checks for it.
    if version.is_some_and(|axum::Extension(v)| v < super::ClientVersion(1, 45)) {
        views::short_id_among_aliases(&mut out);
    }
    Ok(Json(out))
}

pub async fn start(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let span = tracing::info_span!("start", id = %&e.snapshot().id[..12]);
    let st = e.status();
    if matches!(st, Status::Running | Status::Restoring | Status::Orphaned) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    if let Err(err) = lifecycle::start(&d, &e).instrument(span).await {
        // dockerd removes an auto-remove container whose start failed (the CLI waits for that).
        if e.snapshot().host_config.auto_remove.unwrap_or(false) {
            let _ = lifecycle::remove(&d, &e, true, true).await;
        }
        return Err(err.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn timeout_param(q: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
    match q.get("t").or(q.get("timeout")) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for \"t\": {t}"))),
    }
}

pub async fn stop(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let t = timeout_param(&q)?;
    if !e.status().is_live() {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let _op = e.op.lock().await;
    let sig = q.get("signal").filter(|s| !s.is_empty()).map(|s| lifecycle::parse_signal(s)).transpose()?;
    lifecycle::stop_locked(&d, &e, t, sig, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let sig = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => lifecycle::parse_signal(s)?,
        None => libc::SIGKILL,
    };
    lifecycle::kill(&d, &e, sig).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let t = timeout_param(&q)?;
    let _op = e.op.lock().await;
    // Stopped by the user, so that the restart policy does not race this start with its own;
    // the start clears the mark again.
    lifecycle::stop_locked(&d, &e, t, None, true).await?;
    lifecycle::start_locked(&d, &e).await?;
    let c = e.snapshot();
    d.events.emit("container", "restart", &c.id, lifecycle::attrs(&c));
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    lifecycle::remove(&d, &e, qbool(q.get("force")), qbool(q.get("v"))).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /containers/<parent>/<alias>?link=1` (`docker rm --link`): the link goes, both
/// containers stay. Without `link`, a name with a slash names no container.
pub async fn remove_link(
    State(d): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    if !qbool(q.get("link")) {
        return Err(ApiError::not_found(format!("No such container: {parent}/{alias}")));
    }
    crate::engine::links::remove(&d, &parent, &alias)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal size, through the monitor that holds it.
pub async fn resize(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    let dim = |k: &str| {
        q.get(k).map(|v| v.parse::<u16>().map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))).transpose()
    };
    let (Some(h), Some(w)) = (dim("h")?, dim("w")?) else {
        return Err(ApiError::bad_request("resize needs h and w"));
    };
    if !c.state.status.is_live() {
        return Err(ApiError::conflict(format!("Container {} is not running", c.id)));
    }
    if !c.config.tty.unwrap_or(false) {
        return Ok(StatusCode::OK.into_response()); // Docker ignores a resize without a terminal.
    }
    let p = crate::monitor::MonitorPaths::new(&d.config().exec_root, &c.id);
    crate::monitor::resize(&p.socket(), h, w, None)
        .await
        .map_err(|err| ApiError::internal(format!("resize: {err}")))?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /containers/{id}/wait`: headers go out at once (the docker CLI waits for them before it
/// starts the container); the body follows when the condition is met.
pub async fn wait(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let cond = q.get("condition").cloned().unwrap_or_else(|| "not-running".into());
    if !["not-running", "next-exit", "removed", ""].contains(&cond.as_str()) {
        return Err(ApiError::bad_request(format!("invalid condition: \"{cond}\"")));
    }
    let start = e.snapshot();
    let (tx, rx) = tokio::sync::oneshot::channel::<bytes::Bytes>();
    tokio::spawn(async move {
        let mut changed = e.changed.subscribe();
        loop {
            let c = e.snapshot();
            let removed = changed.has_changed().is_err() || d.store.get(&c.id).is_err();
            let done = match cond.as_str() {
                "removed" => removed,
                // A restart policy's restart counts as an exit, as dockerd wakes its stop waiters.
                "next-exit" => {
                    matches!(c.state.seen(), Status::Exited | Status::Restarting)
                        && c.state.finished_at != start.state.finished_at
                        || removed
                }
                _ => {
                    let seen = c.state.seen();
                    !seen.is_live() && seen != Status::Removing
                        || seen == Status::Restarting && c.state.finished_at != start.state.finished_at
                        || removed
                }
            };
            if done {
                // Docker omits `Error` when there is none (`omitempty`).
                let body = berth_api::ContainerWaitResponse {
                    status_code: c.state.exit_code.into(),
                    error: (!c.state.error.is_empty())
                        .then(|| berth_api::WaitExitError { message: c.state.error.clone() }),
                };
                let _ = tx.send(bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
                return;
            }
            tokio::select! {
                r = changed.changed() => { if r.is_err() { tokio::time::sleep(Duration::from_millis(20)).await; } }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    let stream = futures_util::stream::once(async move { rx.await.map_err(|_| std::io::Error::other("wait aborted")) });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// Berth's own `POST /containers/{id}/forget`: drops the container from Berth without touching its
/// process (for an orphan the user wants to manage by hand). Its storage stays mounted if in use.
pub async fn forget(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let _op = e.op.lock().await;
    let c = e.snapshot();
    if c.state.status == Status::Running {
        return Err(ApiError::conflict(format!(
            "container {} is running under its monitor: stop it, or use `rm -f`; forget is for orphans and stopped containers",
            c.short_id()
        )));
    }
    let forgotten = e.dir.with_file_name(format!(".forgotten-{}", c.id));
    std::fs::rename(&e.dir, &forgotten)?;
    d.store.remove(&c.id);
    let mut attrs = crate::engine::lifecycle::attrs(&c);
    attrs.insert("pid".into(), c.state.pid.to_string());
    d.events.emit("container", "forget", &c.id, attrs);
    e.changed.send_modify(|n| *n += 1);
    let message = format!("forgot container {}; its record is kept in {}", c.short_id(), forgotten.display());
    Ok(Json(berth_api::ContainerMessageResponse { message }).into_response())
}

/// `berth container adopt`: a new monitor for an orphan (Berth's own verb).
pub async fn adopt(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let message = crate::engine::adopt::adopt(&d, &e).await?;
    Ok(Json(berth_api::ContainerMessageResponse { message }).into_response())
}
