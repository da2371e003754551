//! `POST /commit`.

use super::body::{form_urlencoded_pairs, JsonBody};
use super::{ApiError, AppState};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn commit(
    State(d): State<AppState>,
    uri: Uri,
    JsonBody(body): JsonBody<Option<berth_api::ContainerConfig>>,
) -> Result<Response, ApiError> {
    let spec = super::request::commit::spec(form_urlencoded_pairs(uri.query().unwrap_or("")), body)?;
    let id = crate::engine::commit::commit(&d, spec).await?;
    Ok((StatusCode::CREATED, Json(berth_api::IdResponse { id })).into_response())
}
