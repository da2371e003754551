//! `/images/...`: import, list, inspect, tag, remove, history.

use super::body::form_urlencoded_pairs;
use super::body::{parse_filters, qbool};
use super::error::image_error;
use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_image::{ImageInfo, ImportOptions};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// `POST /images/create`: `fromSrc=-` imports the request body (a rootfs tarball) as an image.
pub async fn create(State(d): State<AppState>, Query(q): Q, req: Request) -> Result<Response, ApiError> {
    // `changes` may repeat: read them from the raw query.
    let raw = req.uri().query().unwrap_or("").to_string();
    let changes: Vec<String> =
        form_urlencoded_pairs(&raw).into_iter().filter(|(k, _)| k == "changes").map(|(_, v)| v).collect();
    let req_len =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(
                "importing from a URL is not supported: send the tarball as the request body (fromSrc=-)",
            ));
        }
        let repo = q.get("repo").cloned().unwrap_or_default();
        let tag = q.get("tag").cloned().unwrap_or_default();
        let reference = match (repo.is_empty(), tag.is_empty()) {
            (true, _) => None,
            (false, true) => Some(repo),
            (false, false) => Some(format!("{repo}:{tag}")),
        };
        let opts = ImportOptions { reference: reference.clone(), changes, message: q.get("message").cloned() };
        let stream = futures_util::TryStreamExt::map_err(req.into_body().into_data_stream(), std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        // What can be refused before a byte is read gets its own status, not a stream error.
        berth_image::apply_changes(&mut berth_image::ContainerConfig::default(), &opts.changes).map_err(image_error)?;
        if let Some(r) = &opts.reference {
            berth_image::normalize_reference(r).map_err(image_error)?;
        }
        let total: u64 = req_len.unwrap_or(0);
        return Ok(super::imagearchive::import_streamed(d, reader, opts, reference, total));
    }
    if q.contains_key("fromImage") {
        let headers = req.headers().clone();
        return super::registry::pull(d, &q, &headers).await;
    }
    Err(ApiError::bad_request("fromSrc or fromImage is required"))
}

fn summary(i: &ImageInfo, containers: i64) -> serde_json::Value {
    serde_json::json!({
        "Id": i.id.to_string(),
        "ParentId": "",
        "RepoTags": i.repo_tags,
        "RepoDigests": i.repo_digests,
        "Created": i.created_unix(),
        "Size": i.size,
        "SharedSize": -1,
        "VirtualSize": i.size,
        "Labels": i.config.config.labels.clone().unwrap_or_default(),
        "Containers": containers,
    })
}

pub async fn list(State(d): State<AppState>, Query(q): Q) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let mut v: Vec<ImageInfo> = d.images.list();
    for (k, vals) in &filters {
        match k.as_str() {
            "reference" => {
                // Docker lists only the matching tags of a matching image.
                for i in v.iter_mut() {
                    i.repo_tags.retain(|t| vals.iter().any(|r| reference_matches(t, r)));
                }
                v.retain(|i| !i.repo_tags.is_empty());
            }
            "dangling" => {
                let want = vals.iter().any(|x| x == "true" || x == "1");
                v.retain(|i| i.repo_tags.is_empty() == want);
            }
            "label" => v.retain(|i| {
                let labels = i.config.config.labels.clone().unwrap_or_default();
                vals.iter().all(|l| match l.split_once('=') {
                    Some((lk, lv)) => labels.get(lk).map(String::as_str) == Some(lv),
                    None => labels.contains_key(l.as_str()),
                })
            }),
            "before" | "since" => {
                for r in vals {
                    let pivot = d.images.resolve(r).map_err(image_error)?.created;
                    v.retain(|i| if k == "before" { i.created < pivot } else { i.created > pivot });
                }
            }
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    let all = qbool(q.get("all"));
    let _ = all;
    v.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(Json(v.iter().map(|i| summary(i, -1)).collect()))
}

/// `reference=busybox`, `reference=busy*`, `reference=busybox:1*`.
fn reference_matches(tag: &str, pattern: &str) -> bool {
    let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    let (prepo, ptag) = match pattern.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (pattern, None),
    };
    glob(prepo, repo) && ptag.is_none_or(|p| glob(p, t))
}

fn glob(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            (0..=s.len()).any(|i| s.is_char_boundary(i) && glob(rest, &s[i..]))
        }
    }
}

/// What a `GET /images/{name}/…` asks for (names may hold slashes, so the route captures all).
/// The read-only role judges a request by this same parse (`roles::allows`).
#[derive(Debug, PartialEq)]
pub enum ImageGet<'a> {
    Inspect(&'a str),
    History(&'a str),
    Save(&'a str),
}

pub fn parse_image_get(rest: &str) -> Option<ImageGet<'_>> {
    if let Some(name) = rest.strip_suffix("/json") {
        return Some(ImageGet::Inspect(name));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Some(ImageGet::History(name));
    }
    rest.strip_suffix("/get").map(ImageGet::Save)
}

pub async fn get_dispatch(State(d): State<AppState>, Path(rest): Path<String>) -> Result<Response, ApiError> {
    match parse_image_get(&rest) {
        Some(ImageGet::Inspect(name)) => {
            let i = d.images.resolve(name).map_err(image_error)?;
            Ok(Json(inspect(&i)).into_response())
        }
        Some(ImageGet::History(name)) => super::imagearchive::history(&d, name).await,
        Some(ImageGet::Save(name)) => super::imagearchive::save(d, vec![name.to_string()]).await,
        None => Err(ApiError::not_found(format!("page not found: /images/{rest}"))),
    }
}

fn inspect(i: &ImageInfo) -> serde_json::Value {
    let c = &i.config;
    serde_json::json!({
        "Id": i.id.to_string(),
        "RepoTags": i.repo_tags,
        "RepoDigests": i.repo_digests,
        "Parent": "",
        "Comment": c.history.first().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": c.created,
        "DockerVersion": "",
        "Author": "",
        "Config": c.config,
        "Architecture": c.architecture,
        "Os": c.os,
        "Size": i.size,
        "VirtualSize": i.size,
        "GraphDriver": {"Name": "overlay2", "Data": null},
        "RootFS": {"Type": "layers", "Layers": c.rootfs.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

pub async fn post_dispatch(
    State(d): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Q,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/push") {
        return super::registry::push(d, name, &q, &headers).await;
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.get("repo").cloned().unwrap_or_default();
        if repo.is_empty() {
            return Err(ApiError::bad_request("repository name must have at least one component"));
        }
        let target = match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => format!("{repo}:latest"),
        };
        d.images.tag(name, &target).map_err(image_error)?;
        let i = d.images.resolve(&target).map_err(image_error)?;
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("name".to_string(), target);
        d.events.emit("image", "tag", &i.id.to_string(), attrs);
        return Ok(StatusCode::CREATED.into_response());
    }
    Err(ApiError::not_found(format!("page not found: /images/{rest}")))
}

pub async fn remove(State(d): State<AppState>, Path(name): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let force = qbool(q.get("force"));
    let users: Vec<(String, String, bool)> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .map(|c| (c.image_id.clone(), c.id.clone(), c.state.status.is_live()))
        .collect();
    let in_use = move |id: &str| -> Vec<berth_image::ContainerUse> {
        users
            .iter()
            .filter(|(img, _, _)| img == id)
            .map(|(_, cid, running)| berth_image::ContainerUse { id: cid.clone(), running: *running })
            .collect()
    };
    let items = d.images.remove(&name, force, &in_use).map_err(image_error)?;
    for it in &items {
        let v = serde_json::to_value(it).unwrap_or_default();
        if let Some(id) = v.get("Deleted").and_then(|x| x.as_str()) {
            d.events.emit("image", "delete", id, Default::default());
        }
        if let Some(t) = v.get("Untagged").and_then(|x| x.as_str()) {
            d.events.emit("image", "untag", t, Default::default());
        }
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(serde_json::to_vec(&items).unwrap_or_default()),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_and_decoding() {
        assert!(super::reference_matches("busybox:latest", "busybox"));
        assert!(super::reference_matches("busybox:1.36", "busy*:1*"));
        assert!(!super::reference_matches("alpine:latest", "busybox"));
        assert_eq!(super::super::body::pct_decode("CMD%20%5B%22sh%22%5D+x"), "CMD [\"sh\"] x");
    }
}
