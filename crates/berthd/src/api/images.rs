//! `/images/...`: import, list, inspect, tag, remove, history.

use super::body::form_urlencoded_pairs;
use super::body::{parse_filters, qbool};
use super::error::image_error;
use super::{ApiError, AppState};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{
    ContainerConfig, DeleteItem, EmptyObjectMap, GraphDriverData, ImageConfig, ImageInspect, ImageMetadata,
    ImageSummary, RootFs,
};
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

fn summary(i: &ImageInfo, containers: i64) -> ImageSummary {
    ImageSummary {
        id: i.id.clone(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        created: i.created_unix(),
        size: i.size as i64,
        shared_size: -1,
        virtual_size: Some(i.size as i64),
        labels: i.config.config.labels.clone().unwrap_or_default(),
        containers,
        ..Default::default()
    }
}

pub async fn list(State(d): State<AppState>, Query(q): Q) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let mut v: Vec<ImageInfo> = d.images.list();
    let parents = d.images.parents_of_children();
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
                // Docker's: `true` lists untagged images that are no image's parent, `false`
                // those with a tag or a digest.
                if vals.iter().any(|x| x == "true" || x == "1") {
                    v.retain(|i| i.repo_tags.is_empty() && !parents.contains(&i.id));
                } else {
                    v.retain(|i| !(i.repo_tags.is_empty() && i.repo_digests.is_empty()));
                }
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
    // Without `all`, Docker hides intermediate images: untagged parents of other images.
    if !qbool(q.get("all")) {
        v.retain(|i| !(i.repo_tags.is_empty() && i.repo_digests.is_empty() && parents.contains(&i.id)));
    }
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
            let parent = d.images.parent(&i.id).unwrap_or_default();
            Ok(Json(inspect(&i, parent)).into_response())
        }
        Some(ImageGet::History(name)) => super::imagearchive::history(&d, name).await,
        Some(ImageGet::Save(name)) => super::imagearchive::save(d, vec![name.to_string()]).await,
        None => Err(ApiError::not_found(format!("page not found: /images/{rest}"))),
    }
}

/// `parent`: the recorded parent's id, "" when none (Docker's `Parent`).
fn inspect(i: &ImageInfo, parent: String) -> ImageInspect {
    let c = &i.config;
    let config = image_config(&c.config);
    // What a commit recorded of its container, else the image's own config.
    let cc = c.container_config.as_ref().map(image_config).unwrap_or_else(|| config.clone());
    ImageInspect {
        id: i.id.clone(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        parent,
        // dockerd: the config's comment, else the last history row's (a commit's message).
        comment: c
            .comment
            .clone()
            .filter(|m| !m.is_empty())
            .or_else(|| c.history.last().and_then(|h| h.comment.clone()))
            .unwrap_or_default(),
        created: c.created.clone().unwrap_or_default(),
        container: c.container.clone().unwrap_or_default(),
        // Docker dropped it in API 1.45, but docker-compose 1.29 reads `ContainerConfig.Volumes`
        // (a KeyError without it) to carry an image's anonymous volumes over on recreate: a
        // commit's container config, else the image's own, as Docker's classic builder did for
        // its last step.
        container_config: Some(ContainerConfig {
            user: cc.user.clone(),
            exposed_ports: cc.exposed_ports.clone(),
            env: cc.env.clone(),
            cmd: cc.cmd.clone(),
            volumes: cc.volumes.clone(),
            working_dir: cc.working_dir.clone(),
            entrypoint: cc.entrypoint.clone(),
            on_build: cc.on_build.clone(),
            healthcheck: cc.healthcheck.clone(),
            labels: cc.labels.clone(),
            stop_signal: Some(cc.stop_signal.clone()).filter(|s| !s.is_empty()),
            shell: cc.shell.clone(),
            ..Default::default()
        }),
        docker_version: c.docker_version.clone().unwrap_or_default(),
        author: c.author.clone().unwrap_or_default(),
        config: Some(config),
        architecture: c.architecture.clone(),
        variant: c.variant.clone().unwrap_or_default(),
        os: c.os.clone(),
        size: i.size as i64,
        virtual_size: Some(i.size as i64),
        graph_driver: GraphDriverData { name: "overlay2".into(), data: None },
        root_fs: RootFs { r#type: "layers".into(), layers: c.rootfs.diff_ids.clone() },
        metadata: ImageMetadata { last_tag_time: Some("0001-01-01T00:00:00Z".into()) },
        ..Default::default()
    }
}

/// The image's runtime defaults in the API's shape (`{}` for each exposed port and volume).
fn image_config(c: &berth_image::ContainerConfig) -> ImageConfig {
    let empties = |m: &Option<std::collections::BTreeMap<String, berth_image::Empty>>| -> Option<EmptyObjectMap> {
        m.as_ref().map(|m| m.keys().map(|k| (k.clone(), serde_json::Value::Object(Default::default()))).collect())
    };
    ImageConfig {
        user: c.user.clone(),
        exposed_ports: empties(&c.exposed_ports),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        volumes: empties(&c.volumes),
        working_dir: c.working_dir.clone(),
        entrypoint: c.entrypoint.clone(),
        on_build: c.on_build.clone(),
        healthcheck: c.healthcheck.as_ref().map(|h| berth_api::HealthConfig {
            test: (!h.test.is_empty()).then(|| h.test.clone()),
            interval: Some(h.interval),
            timeout: Some(h.timeout),
            start_period: Some(h.start_period),
            start_interval: Some(h.start_interval),
            retries: Some(h.retries),
        }),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        shell: c.shell.clone(),
        args_escaped: c.args_escaped.then_some(true),
    }
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

/// Which containers use an image, as `ImageStore::remove` asks (a snapshot of the store now).
pub(super) fn container_users(d: &AppState) -> impl Fn(&str) -> Vec<berth_image::ContainerUse> {
    let users: Vec<(String, String, bool)> =
        d.store.all().iter().map(|e| e.snapshot()).map(|c| (c.image_id, c.id, c.state.status.is_live())).collect();
    move |id: &str| {
        users
            .iter()
            .filter(|(img, _, _)| img == id)
            .map(|(_, cid, running)| berth_image::ContainerUse { id: cid.clone(), running: *running })
            .collect()
    }
}

pub async fn remove(State(d): State<AppState>, Path(name): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let force = qbool(q.get("force"));
    let prune = !qbool(q.get("noprune"));
    let in_use = container_users(&d);
    let items: Vec<DeleteItem> = d
        .images
        .remove_with(&name, force, prune, &in_use)
        .map_err(image_error)?
        .into_iter()
        .map(|it| match it {
            berth_image::DeleteItem::Untagged(t) => DeleteItem { untagged: Some(t), deleted: None },
            berth_image::DeleteItem::Deleted(id) => DeleteItem { untagged: None, deleted: Some(id) },
        })
        .collect();
    for it in &items {
        if let Some(id) = &it.deleted {
            d.events.emit("image", "delete", id, Default::default());
        }
        if let Some(t) = &it.untagged {
            d.events.emit("image", "untag", t, Default::default());
        }
    }
    Ok(Json(items).into_response())
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

    #[test]
    fn inspect_shows_the_config_twice_for_docker_compose() {
        let mut config = berth_image::ImageConfig::default();
        config.config.volumes = Some([("/data".to_string(), berth_image::Empty {})].into());
        config.config.cmd = Some(vec!["sh".into()]);
        let info = super::ImageInfo {
            id: "sha256:1".into(),
            repo_tags: vec!["a:latest".into()],
            repo_digests: Vec::new(),
            created: String::new(),
            size: 3,
            config,
            chain_ids: Vec::new(),
            labels: Default::default(),
        };
        let v = serde_json::to_value(super::inspect(&info, String::new())).unwrap();
        // docker-compose 1.29 reads `ContainerConfig.Volumes` on recreate.
        assert_eq!(v["ContainerConfig"]["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(v["ContainerConfig"]["Image"], "");
        // `OnBuild` always: docker-py reads `Config["OnBuild"]`.
        assert_eq!(v["Config"], serde_json::json!({"Cmd": ["sh"], "OnBuild": null, "Volumes": {"/data": {}}}));
        assert_eq!(v["VirtualSize"], 3);
        assert!(v.get("Created").is_none());
        let s = serde_json::to_value(super::summary(&info, -1)).unwrap();
        assert_eq!((s["Labels"].clone(), s["VirtualSize"].clone()), (serde_json::json!({}), serde_json::json!(3)));
    }
}
