//! Docker-shaped errors: `{"message": "..."}` with the status code Docker uses.

use crate::engine::EngineError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, message = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, message = %self.message, "request refused");
        }
        (self.status, axum::Json(serde_json::json!({ "message": self.message }))).into_response()
    }
}

impl From<crate::engine::store::LookupError> for ApiError {
    fn from(e: crate::engine::store::LookupError) -> Self {
        match e {
            crate::engine::store::LookupError::NotFound(_) => ApiError::not_found(e.to_string()),
            crate::engine::store::LookupError::Ambiguous(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("internal task failed: {e}"))
    }
}

/// The one translation of the engine's errors into Docker's status codes.
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Conflict(m) => ApiError::conflict(m),
            EngineError::Invalid(m) => ApiError::bad_request(m),
            EngineError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            EngineError::Internal(m) => ApiError::internal(m),
            EngineError::StepFailed { message, .. } => ApiError::internal(message),
            EngineError::Lookup(e) => e.into(),
            EngineError::Image(e) => image_error(e),
            EngineError::Io(e) => e.into(),
            EngineError::Task(e) => e.into(),
        }
    }
}

/// An image store error with Docker's status: not found 404, conflict 409, bad input 400.
pub fn image_error(e: berth_image::ImageError) -> ApiError {
    let msg = e.to_string();
    if e.is_not_found() {
        ApiError::not_found(msg)
    } else if e.is_conflict() {
        ApiError::conflict(msg)
    } else if e.is_invalid_input() {
        ApiError::bad_request(msg)
    } else {
        ApiError::internal(msg)
    }
}
