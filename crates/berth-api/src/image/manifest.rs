//! OCI content descriptors and the per-manifest summaries of a multi-platform image
//! (`Descriptor` and `Manifests` of image list and inspect, `ImageManifestDescriptor` of
//! container list and inspect). Docker fills them only with the containerd image store;
//! they use the OCI spec's lowerCamel keys, unlike the rest of the API.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An OCI content descriptor (`application/vnd.oci.image.manifest.v1+json`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OciDescriptor {
    pub media_type: String,
    /// `sha256:…`
    pub digest: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The content itself, base64 (small blobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<OciPlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// An OCI platform: `{"architecture": "arm64", "os": "linux", "variant": "v8"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OciPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// One manifest of an image index, as `GET /images/json?manifests=1` and image inspect
/// (`?manifests=1`) report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageManifestSummary {
    #[serde(rename = "ID")]
    pub id: String,
    pub descriptor: OciDescriptor,
    /// Whether all of the manifest's content is present locally.
    pub available: bool,
    pub size: ManifestSize,
    /// "image", "attestation" or "unknown".
    pub kind: String,
    /// Only for kind "image".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_data: Option<ManifestImageData>,
    /// Only for kind "attestation".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_data: Option<ManifestAttestationData>,
}

/// `Size` of a manifest summary, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManifestSize {
    /// Content and unpacked snapshots together.
    pub total: i64,
    /// The compressed content in the content store.
    pub content: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManifestImageData {
    pub platform: OciPlatform,
    /// IDs of the containers using this platform's image.
    pub containers: Vec<String>,
    pub size: ManifestUnpackedSize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManifestUnpackedSize {
    pub unpacked: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManifestAttestationData {
    /// The digest of the manifest the attestation is for.
    pub r#for: String,
}
