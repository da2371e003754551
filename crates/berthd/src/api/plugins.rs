//! The plugin API. Plugins can be created from a directory (`docker plugin create`), listed,
//! inspected and removed (`engine::plugins`). Berth has no plugin runtime: what would run one
//! (`enable`) or fetch one (`pull`, `install`, `upgrade`, `push`) is refused with 501 naming the
//! route, never answered as if it had been done.

use super::body::qbool;
use super::{ApiError, AppState};
use crate::engine::plugins;
use crate::model::PluginRecord;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api::plugin::{Plugin, PluginConfig, PluginSettings};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(refused))
        .route("/plugins/pull", post(refused))
        .route("/plugins/create", post(create))
        // Names have slashes (`vieux/sshfs:latest`): the verb is the last segment.
        .route("/plugins/{*rest}", get(get_dispatch).post(post_dispatch).delete(remove))
}

async fn get_dispatch(State(d): State<AppState>, Path(rest): Path<String>) -> Result<Response, ApiError> {
    match rest.strip_suffix("/json") {
        Some(name) => Ok(Json(wire(&plugins::get(&d, name)?)).into_response()),
        None => Err(ApiError::not_found(format!("page not found: /plugins/{rest}"))),
    }
}

async fn post_dispatch(State(d): State<AppState>, Path(rest): Path<String>, uri: Uri) -> Result<Response, ApiError> {
    let Some((name, verb)) = rest.rsplit_once('/') else {
        return Err(ApiError::not_found(format!("page not found: /plugins/{rest}")));
    };
    match verb {
        "enable" => enable(&d, name),
        "disable" => disable(&d, name),
        "upgrade" | "push" | "set" => Err(refused(uri).await),
        _ => Err(ApiError::not_found(format!("page not found: /plugins/{rest}"))),
    }
}

fn wire(p: &PluginRecord) -> Plugin {
    let config: PluginConfig = serde_json::from_value(p.config.clone()).unwrap_or_default();
    let env = config.env.iter().flatten().filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name))).collect();
    let args = config.args.value.clone().unwrap_or_default();
    Plugin {
        id: p.id.clone(),
        name: p.name.clone(),
        enabled: false,
        settings: PluginSettings { env, args, ..Default::default() },
        plugin_reference: String::new(),
        config,
    }
}

fn check(v: &serde_json::Value) -> Result<(), String> {
    serde_json::from_value::<PluginConfig>(v.clone()).map(|_| ()).map_err(|e| e.to_string())
}

async fn list(State(d): State<AppState>) -> Json<Vec<Plugin>> {
    Json(plugins::list(&d).iter().map(wire).collect())
}

async fn create(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let name = q.get("name").cloned().unwrap_or_default();
    if let Some(k) = q.keys().find(|k| k.as_str() != "name") {
        return Err(ApiError::bad_request(format!("unknown plugin create option {k:?}")));
    }
    let body = std::io::BufReader::with_capacity(1 << 20, super::body::BodyReader::new(req.into_body()));
    plugins::create(&d, &name, body, check).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let _force = qbool(q.get("force"));
    plugins::remove(&d, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn enable(d: &AppState, name: &str) -> Result<Response, ApiError> {
    let p = plugins::get(d, name)?;
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("enabling plugin {} is not supported by Berth: it has no plugin runtime", p.name),
    ))
}

fn disable(d: &AppState, name: &str) -> Result<Response, ApiError> {
    let p = plugins::get(d, name)?;
    Err(ApiError::bad_request(format!("plugin {} is already disabled", p.name)))
}

async fn refused(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("{} is not supported by Berth: it installs or runs no plugins from registries", uri.path()),
    )
}
