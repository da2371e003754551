#![deny(unsafe_code)]
//! Berth's images: a content-addressed store of image configs, layers extracted once (safely) in
//! overlayfs format and shared read-only, and the storage drivers that build container rootfs from
//! them (`overlay2`, `vfs`).
//!
//! Everything here is blocking and `Send + Sync`; the daemon calls it through `spawn_blocking`.
//!
//! On disk, under the daemon's data-root:
//! - `image/blobs/sha256/<hex>`: image configs; the image id is the sha256 of these bytes.
//! - `image/parent/<hex>`: the parent image id of a committed or built image.
//! - `image/repositories.json`: tags, in Docker's shape `{"Repositories": {repo: {"repo:tag": id}}}`.
//! - `storage/layers/<chain-id-hex>/{diff,layer.json}`: each layer extracted once, in overlayfs
//!   format (whiteout = char device 0/0, opaque dir = `trusted.overlay.opaque=y`), shared
//!   read-only; published by renaming a `.tmp-*` sibling, so a crash never shows half a layer.
//! - `storage/overlay2/<cid>/{upper,work,merged,lower.json}`, `storage/vfs/<cid>/rootfs`.
//!
//! A layer is deleted when no image lists it and no overlay2 container stacks on it (checked on
//! `rmi` and swept at `open`).

mod busybox;
mod changes;
mod config;
mod digest;
mod driver;
mod error;
mod extract;
mod healthcheck;
mod layerdiff;
mod layers;
mod pack;
mod reference;
mod safe;
mod store;
mod tarsplit;

pub use busybox::busybox_rootfs_tar;
pub use changes::apply_changes;
pub use config::{ContainerConfig, Empty, HealthConfig, History, ImageConfig, RootFs};
pub use digest::{chain_id, chain_ids, sha256_digest, short_id};
pub use driver::{driver, Change, ChangeKind, CreateOpts, DiffSource, Overlay2Driver, StorageDriver, VfsDriver};
pub use error::ImageError;
pub use extract::{decompress, extract_copy, extract_layer, LayerStats};
pub use healthcheck::parse_go_duration;
pub use layerdiff::EMPTY_LAYER_DIFF_ID;
pub use layers::LayerInfo;
pub use pack::{open_in_root, PathStat, Source};
pub use reference::{is_digest_reference, normalize_any_reference, normalize_digest_reference, normalize_reference};
pub use safe::clean_entry_path;
pub use store::{
    ChildImage, ContainerUse, DeleteItem, HistoryItem, ImageId, ImageInfo, ImageStore, ImportOptions, LoadProgress,
};

#[cfg(test)]
mod tests {
    /// The daemon shares these across tokio's blocking threads.
    #[test]
    fn store_and_drivers_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<crate::ImageStore>();
        assert_send_sync::<dyn crate::StorageDriver>();
        assert_send_sync::<crate::Overlay2Driver>();
        assert_send_sync::<crate::VfsDriver>();
    }
}
