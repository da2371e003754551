//! `/volumes`: create, list (filters name/label/dangling), inspect, remove (refused while in use),
//! prune, with Docker's shapes and wording.

use super::body::{parse_filters, qbool, JsonBody};
use super::{ApiError, AppState};
use crate::engine::volumes::{Volume, Volumes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use std::collections::{BTreeMap, HashMap};

/// A volume as list, inspect and create answer it (Berth has the `local` driver only).
pub(crate) fn view(vols: &Volumes, v: &Volume) -> berth_api::Volume {
    berth_api::Volume {
        name: v.name.clone(),
        driver: "local".into(),
        mountpoint: vols.data_path(&v.name).to_string_lossy().into_owned(),
        created_at: Some(v.created.clone()),
        labels: v.labels.clone(),
        scope: "local".into(),
        options: v.options.clone(),
        ..Default::default()
    }
}

/// Ids of the containers that mount `name`.
fn users(d: &AppState, name: &str) -> Vec<String> {
    d.store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.mounts.iter().any(|m| m.name.as_deref() == Some(name)))
        .map(|c| c.id)
        .collect()
}

pub async fn create(
    State(d): State<AppState>,
    JsonBody(req): JsonBody<VolumeCreateRequest>,
) -> Result<Response, ApiError> {
    if req.cluster_volume_spec.is_some() {
        return Err(ApiError::bad_request("cluster volumes need swarm mode, which Berth does not have"));
    }
    let drv = req.driver.as_str();
    if !drv.is_empty() && drv != "local" {
        return Err(ApiError::not_found(format!("error looking up volume plugin {drv}: plugin \"{drv}\" not found")));
    }
    let v = d.volumes.create(Some(req.name.as_str()), req.labels, req.driver_opts)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("driver".to_string(), "local".to_string());
    d.events.emit("volume", "create", &v.name, attrs);
    Ok((StatusCode::CREATED, Json(view(&d.volumes, &v))).into_response())
}

fn matches(d: &AppState, v: &Volume, filters: &BTreeMap<String, Vec<String>>) -> Result<bool, ApiError> {
    for (k, vals) in filters {
        let ok = k == "label" && crate::engine::filters::labels_match(|k| v.labels.get(k).map(String::as_str), vals);
        let ok = ok
            || vals.iter().any(|f| match k.as_str() {
                "name" => v.name.contains(f.as_str()),
                "driver" => f == "local",
                "dangling" => (f == "true" || f == "1") == users(d, &v.name).is_empty(),
                "all" => true,
                _ => false,
            });
        if !["name", "driver", "dangling", "label", "all"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn list(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<VolumeListResponse>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let mut out = Vec::new();
    for v in d.volumes.list() {
        if matches(&d, &v, &filters)? {
            out.push(view(&d.volumes, &v));
        }
    }
    Ok(Json(VolumeListResponse { volumes: out, warnings: vec![] }))
}

pub async fn inspect(State(d): State<AppState>, Path(name): Path<String>) -> Result<Json<berth_api::Volume>, ApiError> {
    let v = d.volumes.get(&name).ok_or_else(|| ApiError::not_found(format!("get {name}: no such volume")))?;
    Ok(Json(view(&d.volumes, &v)))
}

fn remove_one(d: &AppState, name: &str) -> Result<u64, ApiError> {
    d.volumes.get(name).ok_or_else(|| ApiError::not_found(format!("get {name}: no such volume")))?;
    let users = users(d, name);
    if !users.is_empty() {
        return Err(ApiError::conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
    }
    let size = d.volumes.remove(name)?;
    d.events.emit("volume", "destroy", name, BTreeMap::new());
    Ok(size)
}

pub async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    match remove_one(&d, &name) {
        Err(e) if e.status == StatusCode::NOT_FOUND && qbool(q.get("force")) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e),
        Ok(_) => Ok(StatusCode::NO_CONTENT),
    }
}

/// Unused volumes go; by default only anonymous ones, as Docker ≥ 23 does (`all=true` for all).
pub async fn prune(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<VolumePruneResponse>, ApiError> {
    let mut filters = parse_filters(q.get("filters"))?;
    let all = filters.remove("all").is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"));
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for v in d.volumes.list() {
        if (!all && !v.anonymous) || !users(&d, &v.name).is_empty() || !matches(&d, &v, &filters)? {
            continue;
        }
        if let Ok(size) = remove_one(&d, &v.name) {
            reclaimed += size;
            deleted.push(v.name);
        }
    }
    // dockerd sends `[]`, not `null`, when nothing was deleted.
    Ok(Json(VolumePruneResponse { volumes_deleted: Some(deleted), space_reclaimed: reclaimed }))
}
