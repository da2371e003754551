//! `GET /system/df`: disk usage of images, containers, volumes and the build cache.

use crate::build::BuildCache;
use crate::container::ContainerSummary;
use crate::image::ImageSummary;
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Answer of `GET /system/df`. With `?type=…` only the asked-for lists are filled; the others
/// are `null` (Go's nil slices), and `LayersSize` is 0 unless images were asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemDfResponse {
    /// Bytes of all image layers, shared ones counted once.
    pub layers_size: i64,
    /// `SharedSize` and `Containers` are computed here (not -1).
    pub images: Option<Vec<ImageSummary>>,
    /// `SizeRw` and `SizeRootFs` are set here.
    pub containers: Option<Vec<ContainerSummary>>,
    /// `UsageData` is set here.
    pub volumes: Option<Vec<Volume>>,
    pub build_cache: Option<Vec<BuildCache>>,
}
