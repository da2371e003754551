//! The Docker Engine API on a unix socket: same paths, JSON and status codes as dockerd.

pub mod archive;
pub mod attach;
pub mod body;
pub mod build;
pub mod commit;
pub mod containers;
pub mod error;
pub mod exec;
pub mod imagearchive;
pub mod images;
pub mod logs;
pub mod networks;
pub mod plugins;
pub mod prune;
pub mod reframe;
pub mod registry;
pub mod request;
pub mod roles;
pub mod swarm;
pub mod system;
pub mod verbs;
pub mod views;
pub mod volumes;

use crate::engine::daemon::Daemon;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use std::sync::Arc;

pub use error::ApiError;

pub const API_VERSION: &str = "1.51";
pub const MIN_API_VERSION: &str = "1.24";

pub type AppState = Arc<Daemon>;

/// The API version a request named in its path (`/v1.41/...`), for the few answers whose shape
/// changed between versions. A request without a prefix gets the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClientVersion(pub u32, pub u32);

/// The API for one socket. A socket with a role gets the role's check as a layer: it runs once
/// the route is chosen, before any handler, fallback and wrong methods included (`roles`).
pub fn router(d: Arc<Daemon>, role: roles::Role) -> Router {
    let r = routes();
    let r = match role {
        roles::Role::Full => r,
        _ => r.layer(axum::middleware::from_fn_with_state(role, roles::enforce)),
    };
    r.with_state(d)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/images/create", post(images::create))
        .route("/images/json", get(images::list))
        .route("/images/prune", post(prune::images))
        .route("/images/get", get(imagearchive::save_many))
        .route("/images/search", get(registry::search))
        .route("/auth", post(registry::login))
        .route("/images/load", post(imagearchive::load))
        .route("/containers/prune", post(prune::containers))
        .route("/build", post(build::build))
        .route("/build/prune", post(prune::build_cache))
        .route("/system/df", get(prune::df))
        .route("/images/{*rest}", get(images::get_dispatch).post(images::post_dispatch).delete(images::remove))
        .route("/commit", post(commit::commit))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/{alias}", delete(containers::remove_link))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/forget", post(containers::forget))
        .route("/containers/{id}/rename", post(verbs::rename))
        .route("/containers/{id}/pause", post(verbs::pause))
        .route("/containers/{id}/unpause", post(verbs::unpause))
        .route("/containers/{id}/top", get(verbs::top))
        .route("/containers/{id}/stats", get(verbs::stats))
        .route("/containers/{id}/update", post(verbs::update))
        .route("/containers/{id}/adopt", post(containers::adopt))
        .route("/containers/{id}/archive", get(archive::get).head(archive::stat).put(archive::put))
        .route("/containers/{id}/export", get(archive::export))
        .route("/containers/{id}/changes", get(archive::changes))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/exec/{id}/resize", post(exec::resize))
        .merge(swarm::routes())
        .merge(plugins::routes())
        .fallback(not_found)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}

/// Parses `/vX.Y/...`, refuses versions outside the supported range with Docker's wording,
/// strips the prefix, and stamps the headers every dockerd response carries.
pub async fn version_prefix(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some((ver, tail)) = rest.split_once('/') {
            if let Some((maj, min)) = ver.split_once('.') {
                if let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) {
                    if let Err(e) = check_version(maj, min) {
                        return e.into_response();
                    }
                    req.extensions_mut().insert(ClientVersion(maj, min));
                    let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
                    let new_pq = format!("/{}", &pq[2 + ver.len() + 1..]);
                    let _ = tail;
                    if let Ok(uri) = Uri::builder().path_and_query(new_pq).build() {
                        *req.uri_mut() = uri;
                    }
                }
            }
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Server", HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")));
    resp
}

fn check_version(maj: u32, min: u32) -> Result<(), ApiError> {
    let v = (maj, min);
    if v > (1, 51) {
        return Err(ApiError::bad_request(format!(
            "client version {maj}.{min} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < (1, 24) {
        return Err(ApiError::bad_request(format!(
            "client version {maj}.{min} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(())
}
