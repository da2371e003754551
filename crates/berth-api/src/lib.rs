//! Docker Engine API types (API 1.51) with Docker's exact JSON field names, shared by berthd
//! (serializes responses, deserializes requests) and the `berth` CLI.
//!
//! Requests accept what the docker CLI 28 and docker-py 7.1 send: unknown fields are ignored,
//! `null` is accepted wherever a client may send it, and a field of the wrong type fails
//! deserialization (the daemon answers 400). Responses mirror Docker: fields Go marks
//! `omitempty` are skipped when `None`; fields Go always sends are sent, as `null` when unset.
//! Request types carry every field API 1.51 documents, so the daemon can refuse one it does
//! not implement by name instead of silently ignoring it.
//!
//! Routes and their types (a route not listed has no JSON body either way: query parameters
//! in, 204/201 or a raw stream out):
//!
//! | route | request body | answer |
//! | --- | --- | --- |
//! | `GET /_ping` | | text "OK" |
//! | `GET /version`, `GET /info` | | [`Version`], [`Info`] |
//! | `GET /events` | | stream of [`EventMessage`] |
//! | `POST /images/create`, `POST /images/load` | (image tar for load) | stream of [`ProgressMessage`] |
//! | `GET /images/json` | | `Vec<`[`ImageSummary`]`>` |
//! | `GET /images/{name}/json` | | [`ImageInspect`] |
//! | `GET /images/{name}/history` | | `Vec<`[`HistoryItem`]`>` |
//! | `DELETE /images/{name}` | | `Vec<`[`DeleteItem`]`>` |
//! | `POST /images/prune` | | [`ImagePruneResponse`] |
//! | `GET /images/search` | | `Vec<`[`ImageSearchResult`]`>` |
//! | `POST /auth` | [`AuthConfig`] | [`AuthResponse`] |
//! | `GET /system/df` | | [`SystemDfResponse`] |
//! | `POST /build/prune` | | [`BuildCachePruneResponse`] |
//! | `POST /containers/create` | [`ContainerCreateRequest`] | [`ContainerCreateResponse`] |
//! | `POST /commit` | [`ContainerConfig`] (optional) | [`IdResponse`] (201) |
//! | `GET /containers/json` | | `Vec<`[`ContainerSummary`]`>` |
//! | `GET /containers/{id}/json` | | [`ContainerInspect`] |
//! | `POST /containers/{id}/wait` | | [`ContainerWaitResponse`] |
//! | `GET /containers/{id}/top` | | [`ContainerTopResponse`] |
//! | `GET /containers/{id}/stats` | | (stream of) [`ContainerStats`] |
//! | `POST /containers/{id}/update` | [`ContainerUpdateRequest`] | [`ContainerUpdateResponse`] |
//! | `GET /containers/{id}/changes` | | `Vec<`[`FilesystemChange`]`>` |
//! | `HEAD`/`GET /containers/{id}/archive` | | header `X-Docker-Container-Path-Stat`: base64 [`PathStat`] |
//! | `POST /containers/prune` | | [`ContainerPruneResponse`] |
//! | `POST /containers/{id}/forget`, `POST /containers/{id}/adopt` (Berth's own) | | [`ContainerMessageResponse`] |
//! | `POST /containers/{id}/exec` | [`ExecConfig`] | [`IdResponse`] |
//! | `POST /exec/{id}/start` | [`ExecStartConfig`] | raw stream |
//! | `GET /exec/{id}/json` | | [`ExecInspect`] |
//! | `GET /volumes` | | [`VolumeListResponse`] |
//! | `POST /volumes/create` | [`VolumeCreateRequest`] | [`Volume`] |
//! | `GET /volumes/{name}` | | [`Volume`] |
//! | `POST /volumes/prune` | | [`VolumePruneResponse`] |
//! | `GET /networks`, `GET /networks/{id}` | | `Vec<`[`Network`]`>`, [`Network`] |
//! | `POST /networks/create` | [`NetworkCreateRequest`] | [`NetworkCreateResponse`] |
//! | `POST /networks/{id}/connect` | [`NetworkConnectRequest`] | |
//! | `POST /networks/{id}/disconnect` | [`NetworkDisconnectRequest`] | |
//! | `POST /networks/prune` | | [`NetworkPruneResponse`] |
//! | any error | | [`ErrorResponse`] |
#![deny(unsafe_code)]

pub mod build;
pub mod container;
pub mod error;
pub mod event;
pub mod exec;
pub mod image;
pub mod network;
pub mod plugin;
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
