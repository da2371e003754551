//! Docker Engine API types (API 1.51) with Docker's exact JSON field names, shared by berthd
//! (serializes responses, deserializes requests) and the `berth` CLI.
//!
//! Requests accept what the docker CLI 28 and docker-py 7.1 send: unknown fields are ignored,
//! `null` is accepted wherever a client may send it, and a field of the wrong type fails
//! deserialization (the daemon answers 400). Responses mirror Docker: fields Go marks
//! `omitempty` are skipped when `None`; fields Go always sends are sent, as `null` when unset.
#![deny(unsafe_code)]

pub mod build;
pub mod container;
pub mod error;
pub mod event;
pub mod exec;
pub mod image;
pub mod network;
pub mod registry;
pub mod serde_util;
pub mod system;
pub mod volume;

pub use build::*;
pub use container::*;
pub use error::ErrorResponse;
pub use event::{EventActor, EventMessage};
pub use exec::*;
pub use image::*;
pub use network::*;
pub use registry::*;
pub use system::*;
pub use volume::*;

/// The API version Berth speaks (Docker 28.3).
pub const API_VERSION: &str = "1.51";
/// The oldest API version Berth accepts in a `/vX.Y/` path prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// `{"Id": "..."}`: the answer of exec create and other create endpoints.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}
