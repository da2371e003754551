//! vfs: `storage/vfs/<cid>/rootfs` is a full copy of the layers applied in order, whiteouts and
//! opaque directories interpreted on the way. Slow and big, but works on any filesystem.

use super::{check_container_id, sweep_tmp, tmp_name, StorageDriver};
use crate::error::{ImageError, IoContext};
use crate::safe::{Meta, SafeRoot};
use rustix::fs::FileType;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub struct VfsDriver {
    home: PathBuf,
}

impl VfsDriver {
    pub fn new(data_root: &Path) -> Result<Self, ImageError> {
        let home = data_root.join("storage").join("vfs");
        berth_proto::fsutil::create_dir_mode(&home, berth_proto::fsutil::modes::STORAGE_DIR)
            .ctx(|| format!("creating {}", home.display()))?;
        sweep_tmp(&home);
        Ok(VfsDriver { home })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }
}

fn meta_of(path: &Path, md: &fs::Metadata) -> Meta {
    let xattrs = xattr::list(path)
        .map(|names| {
            names
                .filter(|n| !n.to_string_lossy().starts_with("trusted.overlay."))
                .filter_map(|n| xattr::get(path, &n).ok().flatten().map(|v| (n, v)))
                .collect()
        })
        .unwrap_or_default();
    Meta { uid: md.uid(), gid: md.gid(), mode: md.mode() & 0o7777, mtime: (md.mtime(), md.mtime_nsec()), xattrs }
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// Applies one overlay-format layer directory onto `root`.
pub(crate) fn apply_layer_dir(src: &Path, root: &mut SafeRoot) -> Result<(), ImageError> {
    let md = fs::symlink_metadata(src).ctx(|| format!("stat {}", src.display()))?;
    root.mkdir(Path::new(""), &meta_of(src, &md))?;
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    copy_dir(src, Path::new(""), root, &mut links)
}

fn copy_dir(
    src_root: &Path,
    rel_dir: &Path,
    root: &mut SafeRoot,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), ImageError> {
    let dir = src_root.join(rel_dir);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .ctx(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .ctx(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = rel_dir.join(e.file_name());
        let md = fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            root.remove(&rel)?;
        } else if ft.is_dir() {
            root.mkdir(&rel, &meta_of(&path, &md))?;
            if is_opaque(&path) {
                root.clear_dir(&rel)?;
            }
            copy_dir(src_root, &rel, root, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).ctx(|| format!("readlink {}", path.display()))?;
            root.symlink(&rel, &target, &meta_of(&path, &md))?;
        } else if ft.is_file() {
            let key = (md.dev(), md.ino());
            if md.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    root.hardlink(&rel, first)?;
                    continue;
                }
                links.insert(key, rel.clone());
            }
            let mut f = fs::File::open(&path).ctx(|| format!("opening {}", path.display()))?;
            root.write_file(&rel, &mut f, &meta_of(&path, &md))?;
        } else {
            let kind = if ft.is_char_device() {
                FileType::CharacterDevice
            } else if ft.is_block_device() {
                FileType::BlockDevice
            } else if ft.is_fifo() {
                FileType::Fifo
            } else {
                continue; // sockets are not content
            };
            root.mknod(&rel, kind, md.rdev(), &meta_of(&path, &md))?;
        }
    }
    Ok(())
}

impl StorageDriver for VfsDriver {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn create_with(&self, id: &str, layers: &[PathBuf], opts: &super::CreateOpts) -> Result<(), ImageError> {
        check_container_id(id)?;
        let dest = self.dir(id);
        if dest.exists() {
            return Err(ImageError::Conflict(format!("storage for container {id} already exists")));
        }
        let tmp = self.home.join(tmp_name(id));
        let result = (|| {
            let rootfs = tmp.join("rootfs");
            // Others cannot reach the container's files (CVE-2021-41091): the copy's own root
            // keeps the image's mode.
            berth_proto::fsutil::create_dir_mode(&tmp, berth_proto::fsutil::modes::STORAGE_DIR)
                .and_then(|()| fs::create_dir(&rootfs))
                .ctx(|| format!("creating {}", rootfs.display()))?;
            let mut root = SafeRoot::open(&rootfs)?;
            for layer in layers {
                apply_layer_dir(layer, &mut root)?;
            }
            root.finish()?;
            // A copy already: shifted once, here.
            if let Some(maps) = &opts.idmap {
                super::idmap::shift_tree(&rootfs, maps)?;
                // A commit maps the owners back (the layer holds the container's own ids).
                berth_proto::fsutil::write_json_atomic(&tmp.join(super::idmap::IDMAP_FILE), maps)
                    .ctx(|| "recording the id mappings".into())?;
            }
            fs::rename(&tmp, &dest).ctx(|| format!("creating {}", dest.display()))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn mount(&self, id: &str) -> Result<PathBuf, ImageError> {
        check_container_id(id)?;
        let p = self.rootfs_path(id);
        if !p.is_dir() {
            return Err(ImageError::NotFound(format!("no storage for container {id}")));
        }
        Ok(p)
    }

    fn unmount(&self, id: &str) -> Result<(), ImageError> {
        check_container_id(id)
    }

    fn remove(&self, id: &str) -> Result<(), ImageError> {
        check_container_id(id)?;
        let dir = self.dir(id);
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.home.join(tmp_name("delete"));
        fs::rename(&dir, &tmp).ctx(|| format!("removing {}", dir.display()))?;
        fs::remove_dir_all(&tmp).ctx(|| format!("removing {}", tmp.display()))
    }

    fn exists(&self, id: &str) -> bool {
        check_container_id(id).is_ok() && self.rootfs_path(id).is_dir()
    }

    fn rootfs_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("rootfs")
    }

    fn changes(&self, id: &str, layers: &[PathBuf]) -> Result<Vec<super::Change>, ImageError> {
        check_container_id(id)?;
        let maps = super::idmap::read(&self.dir(id))?;
        super::changes::from_full(&self.rootfs_path(id), layers, maps.as_ref())
    }

    fn diff_source(&self, id: &str) -> Result<super::DiffSource, ImageError> {
        check_container_id(id)?;
        if !self.exists(id) {
            return Err(ImageError::NotFound(format!("no storage for container {id}")));
        }
        Ok(super::DiffSource::Rootfs { dir: self.rootfs_path(id), idmap: super::idmap::read(&self.dir(id))? })
    }
}
