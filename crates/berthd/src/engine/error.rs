//! The engine's one error. Each kind is what a caller can act on; `api::error` gives each the
//! status code Docker answers with, and the message is Docker's text where clients match on it.

use crate::engine::store::LookupError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No such container, exec, network or volume.
    #[error("{0}")]
    NotFound(String),
    /// The object's state forbids the call (running, paused, removing, a name in use).
    #[error("{0}")]
    Conflict(String),
    /// The caller's input is wrong or names something Berth does not implement.
    #[error("{0}")]
    Invalid(String),
    /// Allowed input, refused by policy (Docker's 403: a network mode that cannot be changed).
    #[error("{0}")]
    Forbidden(String),
    /// What the engine needed failed: a monitor, the runtime, the kernel.
    #[error("{0}")]
    Internal(String),
    /// A build step's command exited non-zero (its code is the stream's `errorDetail.code`).
    #[error("{message}")]
    StepFailed { message: String, code: i64 },
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl EngineError {
    pub fn not_found(m: impl Into<String>) -> Self {
        EngineError::NotFound(m.into())
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        EngineError::Conflict(m.into())
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        EngineError::Invalid(m.into())
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        EngineError::Forbidden(m.into())
    }
    pub fn internal(m: impl Into<String>) -> Self {
        EngineError::Internal(m.into())
    }
}
