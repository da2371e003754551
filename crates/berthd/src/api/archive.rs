//! A container's files: `docker cp` both ways (`/archive`), `docker export`, `docker diff`
//! (`/changes`). A running container is read and written through `/proc/<pid>/root`, so its
//! volumes and tmpfs mounts are where the user expects them; a stopped one through its rootfs,
//! mounted for the time of the request, with binds and volumes mapped to their sources. Paths
//! are resolved inside that root by the kernel (`RESOLVE_IN_ROOT`): no symlink in the container
//! can point the daemon at a host file.

use super::body::qbool;
use super::error::image_error;
use super::{ApiError, AppState};
use crate::engine::store::Entry;
use crate::model::Container;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use berth_api::{FilesystemChange, PathStat};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

type Q = Query<HashMap<String, String>>;

/// The directory `inner` lives under, and `inner` relative to it.
struct Root {
    dir: PathBuf,
    inner: String,
    /// Held while a stopped container's rootfs is mounted for us.
    _mounted: Option<Mounted>,
}

struct Mounted {
    d: AppState,
    e: Arc<Entry>,
    _op: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let c = self.e.snapshot();
        if !c.state.status.is_live() {
            if let Ok(driver) = self.d.driver(&c.options.storage_driver) {
                if let Err(err) = driver.unmount(&c.id) {
                    tracing::warn!(id = %c.short_id(), "unmounting after a copy: {err}");
                }
            }
        }
    }
}

/// The mount whose destination holds `inner` (the deepest one), as (source, rest of the path).
fn through_mounts(c: &Container, inner: &str) -> Option<(PathBuf, String)> {
    let p = std::path::Path::new(inner);
    c.mounts
        .iter()
        .filter(|m| m.kind != "tmpfs" && p.starts_with(&m.destination))
        .max_by_key(|m| m.destination.len())
        .map(|m| (m.source.clone(), p.strip_prefix(&m.destination).unwrap_or(p).display().to_string()))
}

async fn root_for(d: &AppState, e: &Arc<Entry>, inner: &str) -> Result<Root, ApiError> {
    let c = e.snapshot();
    if c.state.status.is_live() && c.state.pid > 0 {
        return Ok(Root {
            dir: PathBuf::from(format!("/proc/{}/root", c.state.pid)),
            inner: inner.to_string(),
            _mounted: None,
        });
    }
    let op = e.op.clone().lock_owned().await;
    let c = e.snapshot();
    let driver = d.driver(&c.options.storage_driver).map_err(image_error)?;
    let id = c.id.clone();
    let rootfs = tokio::task::spawn_blocking(move || driver.mount(&id)).await?.map_err(image_error)?;
    let mounted = Some(Mounted { d: d.clone(), e: e.clone(), _op: op });
    Ok(match through_mounts(&c, inner) {
        Some((dir, rest)) => Root { dir, inner: rest, _mounted: mounted },
        None => Root { dir: rootfs, inner: inner.to_string(), _mounted: mounted },
    })
}

fn path_param(q: &HashMap<String, String>) -> Result<String, ApiError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.clone()),
        _ => Err(ApiError::bad_request("Path cannot be empty")),
    }
}

fn not_found<'a>(c: &'a Container, inner: &'a str) -> impl Fn(berth_image::ImageError) -> ApiError + 'a {
    move |err| match err {
        berth_image::ImageError::NotFound(_) => {
            ApiError::not_found(format!("Could not find the file {inner} in container {}", c.name))
        }
        other => image_error(other),
    }
}

fn stat_header(st: &berth_image::PathStat) -> HeaderValue {
    let wire = PathStat {
        name: st.name.clone(),
        size: st.size,
        mode: st.mode,
        mtime: st.mtime.clone(),
        link_target: st.link_target.clone(),
    };
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).expect("base64 is a valid header")
}

/// The `path` of the query opened inside the container's root (kept while the source is used).
async fn open_source(
    d: &AppState,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<(Root, berth_image::Source), ApiError> {
    let e = d.store.get(id)?;
    let inner = path_param(q)?;
    let root = root_for(d, &e, &inner).await?;
    let c = e.snapshot();
    let (dir, rel) = (root.dir.clone(), root.inner.clone());
    let src = tokio::task::spawn_blocking(move || berth_image::open_in_root(&dir, &rel, false))
        .await?
        .map_err(not_found(&c, &inner))?;
    Ok((root, src))
}

/// `HEAD /containers/{id}/archive`: the path's stat, in the header the CLI reads.
pub async fn stat(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let (_root, src) = open_source(&d, &id, &q).await?;
    Ok(([("X-Docker-Container-Path-Stat", stat_header(&src.stat()))], StatusCode::OK).into_response())
}

/// Streams what `produce` writes (on a blocking thread) as the response body.
fn tar_body(
    produce: impl FnOnce(tokio_util::io::SyncIoBridge<tokio::io::DuplexStream>) -> Result<(), berth_image::ImageError>
        + Send
        + 'static,
) -> Body {
    let (w, r) = tokio::io::duplex(256 * 1024);
    tokio::task::spawn_blocking(move || {
        if let Err(err) = produce(tokio_util::io::SyncIoBridge::new(w)) {
            // Headers are gone: a cut stream is all the client can be told.
            tracing::warn!("archive stream ended early: {err}");
        }
    });
    Body::from_stream(tokio_util::io::ReaderStream::new(r))
}

/// `GET /containers/{id}/archive`: a tar of the path, named by its base name.
pub async fn get(State(d): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let (root, src) = open_source(&d, &id, &q).await?;
    let st = src.stat();
    let name = st.name.clone();
    let maps = d.store.get(&id)?.snapshot().options.userns;
    let body = tar_body(move |w| {
        let _root = root;
        match &maps {
            Some(m) => src.pack_unshifted(&name, w, m),
            None => src.pack(&name, w),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar")),
            (header::HeaderName::from_static("x-docker-container-path-stat"), stat_header(&st)),
        ],
        body,
    )
        .into_response())
}

/// `PUT /containers/{id}/archive`: the request's tar extracted into the directory at `path`,
/// owned by the container's root unless `copyUIDGID` (`cp -a`).
pub async fn put(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    req: Request,
) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let inner = path_param(&q)?;
    let c = e.snapshot();
    if c.host_config.readonly_rootfs.unwrap_or(false) && through_mounts(&c, &inner).is_none() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "container rootfs is marked read-only"));
    }
    let root = root_for(&d, &e, &inner).await?;
    // The container's root: under --userns-remap, the host ids it maps to.
    let root_ids = c.options.userns.as_ref().map_or((0, 0), |m| m.root());
    let owner = (!qbool(q.get("copyUIDGID"))).then_some(root_ids);
    let (dir, rel) = (root.dir.clone(), root.inner.clone());
    let stream = futures_util::TryStreamExt::map_err(req.into_body().into_data_stream(), std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let res = tokio::task::spawn_blocking(move || {
        let dest = berth_image::open_in_root(&dir, &rel, true)?;
        if !dest.is_dir() {
            return Err(berth_image::ImageError::InvalidInput(format!("extraction point is not a directory: {rel}")));
        }
        berth_image::extract_copy(tokio_util::io::SyncIoBridge::new(reader), &dest.proc_path(), owner)
    })
    .await?;
    drop(root);
    match res {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(berth_image::ImageError::NotFound(_)) => {
            Err(ApiError::not_found(format!("Could not find the file {inner} in container {}", c.name)))
        }
        Err(berth_image::ImageError::InvalidInput(m)) => Err(ApiError::bad_request(m)),
        Err(other) => Err(image_error(other)),
    }
}

/// `docker export`: the whole filesystem as the container sees it, without its mounts' content
/// when it is stopped (as Docker).
pub async fn export(State(d): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    // The rootfs, not /proc/<pid>/root: an export is the container's own layer stack.
    let driver = d.driver(&c.options.storage_driver).map_err(image_error)?;
    let root = if c.state.status.is_live() {
        Root { dir: driver.rootfs_path(&c.id), inner: "/".into(), _mounted: None }
    } else {
        let op = e.op.clone().lock_owned().await;
        let cid = c.id.clone();
        let dir = tokio::task::spawn_blocking(move || driver.mount(&cid)).await?.map_err(image_error)?;
        Root { dir, inner: "/".into(), _mounted: Some(Mounted { d: d.clone(), e: e.clone(), _op: op }) }
    };
    let dir = root.dir.clone();
    let src =
        tokio::task::spawn_blocking(move || berth_image::open_in_root(&dir, "/", false)).await?.map_err(image_error)?;
    d.events.emit("container", "export", &c.id, crate::engine::lifecycle::attrs(&c));
    let maps = c.options.userns.clone();
    let body = tar_body(move |w| {
        let _root = root;
        match &maps {
            Some(m) => src.pack_unshifted("", w, m),
            None => src.pack("", w),
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `docker diff`.
pub async fn changes(
    State(d): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<FilesystemChange>>, ApiError> {
    let e = d.store.get(&id)?;
    let c = e.snapshot();
    let driver = d.driver(&c.options.storage_driver).map_err(image_error)?;
    let layers = d.images.layer_dirs(&c.image_id).map_err(image_error)?;
    let live = c.state.status.is_live();
    let _op = if live { None } else { Some(e.op.clone().lock_owned().await) };
    let cid = c.id.clone();
    let list = tokio::task::spawn_blocking(move || {
        // A vfs rootfs is a plain directory; overlay2 reads its upper dir: no mount needed.
        driver.changes(&cid, &layers)
    })
    .await?
    .map_err(image_error)?;
    // Files the daemon itself manages inside the rootfs are not the user's changes.
    let hidden = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/.dockerenv"];
    let out: Vec<FilesystemChange> = list
        .into_iter()
        .filter(|ch| !hidden.contains(&ch.path.as_str()))
        .map(|ch| FilesystemChange { kind: ch.kind as u8, path: ch.path })
        .collect();
    Ok(Json(out))
}
