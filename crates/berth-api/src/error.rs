//! Docker's error body.

use serde::{Deserialize, Serialize};

/// The body of every non-2xx answer: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorResponse {
    pub message: String,
}

impl ErrorResponse {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}
