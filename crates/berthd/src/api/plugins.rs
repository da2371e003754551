//! The plugin API. Berth has no managed plugins: the list is empty and a named plugin is not
//! found, as on a dockerd with none installed; what would install, change or run one is refused
//! with 501 naming the route, never answered as if it had been done.

use super::{ApiError, AppState};
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(refused))
        .route("/plugins/pull", post(refused))
        .route("/plugins/create", post(refused))
        .route("/plugins/{name}/json", get(not_found))
        .route("/plugins/{name}", delete(not_found))
        .route("/plugins/{name}/enable", post(not_found))
        .route("/plugins/{name}/disable", post(not_found))
        .route("/plugins/{name}/upgrade", post(not_found))
        .route("/plugins/{name}/push", post(not_found))
        .route("/plugins/{name}/set", post(not_found))
}

async fn list() -> Json<Vec<serde_json::Value>> {
    Json(Vec::new())
}

async fn refused(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("{} is not supported by Berth: it has no managed plugins", uri.path()),
    )
}

async fn not_found(axum::extract::Path(name): axum::extract::Path<String>) -> ApiError {
    ApiError::not_found(format!("plugin \"{name}\" not found"))
}
