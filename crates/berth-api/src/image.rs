//! Image types: list, inspect, delete, history, prune, progress messages. OCI descriptors and
//! manifest summaries are in `image/manifest.rs`.

mod manifest;

pub use manifest::*;

use crate::container::{ContainerConfig, EmptyObjectMap, GraphDriverData, HealthConfig};
use crate::serde_util::{nullable, str_slice};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    /// `sha256:…`
    pub id: String,
    pub parent_id: String,
    /// `[]` for an untagged image.
    #[serde(deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
    /// -1 when not computed.
    pub shared_size: i64,
    /// Removed in API 1.44 (Docker still sends it, equal to `Size`, to older clients); Berth
    /// answers every version alike and sends it, as with `ContainerConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// -1 when not computed.
    pub containers: i64,
    /// The image index or manifest (API 1.48+; containerd image store only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<OciDescriptor>,
    /// With `?manifests=1` (API 1.47+; containerd image store only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ImageManifestSummary>>,
}

/// `Config` of an image (Go's `dockerspec.DockerOCIImageConfig` as the API shows it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<EmptyObjectMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<EmptyObjectMap>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// Always sent, `null` when empty: docker-py reads `Config["OnBuild"]`.
    pub on_build: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "str_slice")]
    pub shell: Option<Vec<String>>,
}

/// `RootFS`: `{"Type": "layers", "Layers": ["sha256:…"]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    pub r#type: String,
    #[serde(deserialize_with = "nullable")]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMetadata {
    /// RFC 3339; omitted if the image was never tagged locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// Answer of `GET /images/{name}/json`. `Parent`, `Comment`, `DockerVersion`, `Author`,
/// `Config` and `Metadata` are always sent (as "" or `null`), as Docker does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    pub id: String,
    /// The image index or manifest (API 1.48+; containerd image store only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<OciDescriptor>,
    /// With `?manifests=1` (API 1.48+; containerd image store only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ImageManifestSummary>>,
    #[serde(deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub parent: String,
    #[serde(deserialize_with = "nullable")]
    pub comment: String,
    /// RFC 3339 with nanoseconds.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub created: String,
    /// The id of the container the image was committed from (dropped by Docker in API 1.45).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub container: String,
    /// The config of the container the image was committed from. Docker dropped it in API
    /// 1.45, but docker-compose 1.29 still reads it; Berth sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    #[serde(deserialize_with = "nullable")]
    pub docker_version: String,
    #[serde(deserialize_with = "nullable")]
    pub author: String,
    pub config: Option<ImageConfig>,
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub variant: String,
    pub os: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "nullable")]
    pub os_version: String,
    pub size: i64,
    /// Removed in API 1.44; see [`ImageSummary::virtual_size`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    pub graph_driver: GraphDriverData,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    #[serde(deserialize_with = "nullable")]
    pub metadata: ImageMetadata,
}

/// One entry of the `DELETE /images/{name}` answer: exactly one of the two is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// One entry of `GET /images/{name}/history`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    /// The image ID, or `<missing>` for layers of other images.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

/// `progressDetail` of a progress message (Go's `jsonmessage.JSONProgress`, every field
/// `omitempty`: a layer waiting to start is `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub total: i64,
    /// Unix seconds the operation started.
    #[serde(skip_serializing_if = "is_zero")]
    pub start: i64,
    #[serde(rename = "hidecounts", skip_serializing_if = "std::ops::Not::not")]
    pub hide_counts: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub units: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A line of the JSON stream of `POST /images/create` (pull, import) and `/images/load`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// `POST /build`'s result: the image built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<BuildAux>,
}

/// `aux` of a build's stream (Go's `types.BuildResult`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildAux {
    #[serde(rename = "ID")]
    pub id: String,
}

/// `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    pub images_deleted: Option<Vec<DeleteItem>>,
    pub space_reclaimed: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_shapes() {
        let d = vec![
            DeleteItem { untagged: Some("busybox:latest".into()), deleted: None },
            DeleteItem { untagged: None, deleted: Some("sha256:1".into()) },
        ];
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:1"}]"#);
        let i = ImageInspect {
            id: "sha256:1".into(),
            root_fs: RootFs { r#type: "layers".into(), layers: vec!["sha256:2".into()] },
            ..Default::default()
        };
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["RootFS"]["Type"], "layers");
        assert!(v["Config"].is_null());
        assert!(v.get("ContainerConfig").is_none());
        assert_eq!(v["Parent"], "");
        assert_eq!(v["Metadata"], serde_json::json!({}));
        assert_eq!(serde_json::from_value::<ImageInspect>(v).unwrap(), i);
        let s: ImageSummary = serde_json::from_str(
            r#"{"Id":"sha256:1","RepoTags":null,"Created":5,"Size":7,"SharedSize":-1,"Containers":-1}"#,
        )
        .unwrap();
        assert!(s.repo_tags.is_empty());
        let p: ProgressMessage = serde_json::from_str(r#"{"errorDetail":{"message":"bad"},"error":"bad"}"#).unwrap();
        assert_eq!(p.error_detail.unwrap().message, "bad");
        // Zero counts are left out, as Go's omitempty does; a waiting layer shows `{}`.
        let waiting = ProgressMessage { progress_detail: Some(ProgressDetail::default()), ..Default::default() };
        assert_eq!(serde_json::to_string(&waiting).unwrap(), r#"{"progressDetail":{}}"#);
        let d = ProgressDetail { current: 5, ..Default::default() };
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"current":5}"#);
        assert!(serde_json::to_value(ImageSummary::default()).unwrap().get("VirtualSize").is_none());
    }
}
