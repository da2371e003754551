//! overlay2: `storage/overlay2/<cid>/{upper,work,merged,lower.json}`; the shared layer diff dirs
//! are the lower layers, mounted at `merged`.

use super::{check_container_id, sweep_tmp, tmp_name, StorageDriver};
use crate::error::{ImageError, IoContext};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Overlay2Driver {
    home: PathBuf,
    /// Serializes mount/unmount of the same tree from several threads.
    lock: Mutex<()>,
}

pub(crate) fn is_mounted(path: &Path) -> bool {
    berth_proto::fsutil::is_mount_point(path)
}

fn overlay_listed(filesystems: &str) -> bool {
    filesystems.lines().any(|l| l.split_whitespace().last() == Some("overlay"))
}

fn filesystems() -> Result<String, ImageError> {
    fs::read_to_string("/proc/filesystems").ctx(|| "reading /proc/filesystems".into())
}

/// A stock distribution kernel builds overlayfs as a module and loads it on first use, so it is
/// missing from /proc/filesystems on a freshly booted host: load it as dockerd does, and only
/// then call the kernel unable.
fn ensure_overlayfs() -> Result<(), ImageError> {
    if overlay_listed(&filesystems()?) {
        return Ok(());
    }
    let why = match std::process::Command::new("modprobe").arg("overlay").output() {
        Ok(o) if o.status.success() => String::new(),
        Ok(o) => format!(" (modprobe overlay: {})", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!(" (modprobe overlay: {e})"),
    };
    if overlay_listed(&filesystems()?) {
        tracing::info!("overlay2: loaded the overlay module");
        return Ok(());
    }
    Err(ImageError::Other(format!("overlay2: the kernel does not support overlayfs{why}")))
}

impl Overlay2Driver {
    pub fn new(data_root: &Path) -> Result<Self, ImageError> {
        ensure_overlayfs()?;
        let home = data_root.join("storage").join("overlay2");
        berth_proto::fsutil::create_dir_mode(&home, berth_proto::fsutil::modes::STORAGE_DIR)
            .ctx(|| format!("creating {}", home.display()))?;
        // mountinfo shows canonical paths: compare against the same.
        let home = fs::canonicalize(&home).ctx(|| format!("resolving {}", home.display()))?;
        sweep_tmp(&home);
        Ok(Overlay2Driver { home, lock: Mutex::new(()) })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }

    fn mount_data(&self, id: &str) -> Result<String, ImageError> {
        let dir = self.dir(id);
        let lower: Vec<PathBuf> = berth_proto::fsutil::read_json(&dir.join("lower.json"))
            .ctx(|| format!("reading {}/lower.json", dir.display()))?
            .ok_or_else(|| ImageError::NotFound(format!("no storage for container {id}")))?;
        let mut lowers: Vec<String> = lower.iter().rev().map(|p| p.to_string_lossy().into_owned()).collect();
        if lowers.is_empty() {
            // overlayfs needs one lower layer: an image without layers (scratch) gets an empty one.
            lowers.push(dir.join("empty").to_string_lossy().into_owned());
        }
        if let Some(maps) = super::idmap::read(&dir)? {
            lowers = super::idmap::lowers(&dir, &lowers, &maps)?;
        }
        for p in lowers.iter().chain([dir.to_string_lossy().into_owned()].iter()) {
            if p.contains([',', ':', '\\']) {
                return Err(ImageError::InvalidInput(format!(
                    "overlay2: path {p:?} contains a character overlayfs options cannot carry"
                )));
            }
        }
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        // index=on ties lower dirs to one upper; layers are shared, so keep it off when the
        // kernel knows the option.
        if Path::new("/sys/module/overlay/parameters/index").exists() {
            data.push_str(",index=off");
        }
        // The kernel takes one page of mount options.
        if data.len() >= 4096 {
            return Err(ImageError::Other(format!(
                "overlay2: {} layers make mount options too long ({} bytes)",
                lower.len(),
                data.len()
            )));
        }
        Ok(data)
    }

    /// One overlay mount attempt with the lowers in force (idmapped, or the chowned copies).
    fn mount_once(&self, id: &str, merged: &Path) -> Result<Result<(), nix::errno::Errno>, ImageError> {
        let data = self.mount_data(id)?;
        let mount_with = |data: &str| mount(Some("overlay"), merged, Some("overlay"), MsFlags::empty(), Some(data));
        let mounted = if self.dir(id).join(EPHEMERAL).exists() {
            // overlayfs leaves this directory behind a volatile mount and refuses the next mount
            // while it is there (the upper dir cannot be trusted after a crash): an ephemeral
            // container's writes are not meant to outlive one anyway. Kernels before 5.10 do
            // not know the option: mount as usual.
            let _ = fs::remove_dir_all(self.dir(id).join("work").join("work").join("incompat"));
            mount_with(&format!("{data},volatile")).or_else(|e| match e {
                nix::errno::Errno::EINVAL => mount_with(&data),
                e => Err(e),
            })
        } else {
            mount_with(&data)
        };
        super::idmap::detach(&self.dir(id).join("idmapped"));
        Ok(mounted)
    }
}

/// Marks storage made with [`super::CreateOpts::ephemeral`].
const EPHEMERAL: &str = "ephemeral";

impl StorageDriver for Overlay2Driver {
    fn name(&self) -> &'static str {
        "overlay2"
    }

    fn create_with(&self, id: &str, layers: &[PathBuf], opts: &super::CreateOpts) -> Result<(), ImageError> {
        check_container_id(id)?;
        let dest = self.dir(id);
        if dest.exists() {
            return Err(ImageError::Conflict(format!("storage for container {id} already exists")));
        }
        let tmp = self.home.join(tmp_name(id));
        let result = (|| {
            // What the container writes (upper) is reached only through this directory, which
            // others cannot traverse (CVE-2021-41091). `upper` is the root of the container's
            // file system and keeps the usual 0755, or the container's `/` would shut out its
            // own non-root users; `empty` is a lower layer, its mode hidden by the upper's.
            berth_proto::fsutil::create_dir_mode(&tmp, berth_proto::fsutil::modes::STORAGE_DIR)
                .ctx(|| format!("creating {}", tmp.display()))?;
            for (sub, mode) in [("upper", 0o755), ("work", 0o700), ("merged", 0o700), ("empty", 0o755)] {
                fs::DirBuilder::new().mode(mode).create(tmp.join(sub)).ctx(|| format!("creating {sub}"))?;
            }
            if opts.ephemeral {
                fs::write(tmp.join(EPHEMERAL), b"").ctx(|| "marking the storage ephemeral".into())?;
            }
            if let Some(maps) = &opts.idmap {
                // The upper's root is the container's `/`: its root owns it.
                let (uid, gid) = maps.root();
                std::os::unix::fs::chown(tmp.join("upper"), Some(uid), Some(gid)).ctx(|| "chown upper".into())?;
                berth_proto::fsutil::write_json_atomic(&tmp.join(super::idmap::IDMAP_FILE), maps)
                    .ctx(|| "recording the id mappings".into())?;
            }
            berth_proto::fsutil::write_json_atomic(&tmp.join("lower.json"), &layers)
                .ctx(|| "writing lower.json".into())?;
            fs::rename(&tmp, &dest).ctx(|| format!("creating {}", dest.display()))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn mount(&self, id: &str) -> Result<PathBuf, ImageError> {
        check_container_id(id)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let merged = self.dir(id).join("merged");
        if is_mounted(&merged) {
            return Ok(merged);
        }
        let mounted = self.mount_once(id, &merged)?;
        let idmapped = self.dir(id).join("idmapped");
        let mounted = match mounted {
            // A kernel with idmapped mounts but an overlayfs that refuses them as layers (before
            // 5.19): the chowned copies from now on.
            Err(nix::errno::Errno::EINVAL) if idmapped.is_dir() && !self.dir(id).join("shifted").exists() => {
                tracing::warn!(id, "overlayfs refused idmapped layers: using a chowned copy");
                fs::create_dir(self.dir(id).join("shifted")).ctx(|| "creating shifted".into())?;
                self.mount_once(id, &merged)?
            }
            m => m,
        };
        mounted.map_err(|e| ImageError::Io {
            context: format!("mounting overlay at {}", merged.display()),
            source: e.into(),
        })?;
        Ok(merged)
    }

    fn unmount(&self, id: &str) -> Result<(), ImageError> {
        check_container_id(id)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let merged = self.dir(id).join("merged");
        // Stacked mounts are possible if someone mounted twice behind our back.
        for _ in 0..8 {
            if !is_mounted(&merged) {
                return Ok(());
            }
            match umount2(&merged, MntFlags::empty()) {
                Ok(()) => {}
                Err(nix::errno::Errno::EBUSY) => {
                    // Still used (a process cwd in it): detach so it goes once released.
                    umount2(&merged, MntFlags::MNT_DETACH).map_err(|e| ImageError::Io {
                        context: format!("unmounting {}", merged.display()),
                        source: e.into(),
                    })?;
                }
                Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
                Err(e) => {
                    return Err(ImageError::Io {
                        context: format!("unmounting {}", merged.display()),
                        source: e.into(),
                    })
                }
            }
        }
        Err(ImageError::Other(format!("{} is still mounted", merged.display())))
    }

    fn remove(&self, id: &str) -> Result<(), ImageError> {
        check_container_id(id)?;
        let dir = self.dir(id);
        if !dir.exists() {
            return Ok(());
        }
        self.unmount(id)?;
        if is_mounted(&dir.join("merged")) {
            return Err(ImageError::Other(format!("{} is still mounted", dir.join("merged").display())));
        }
        let tmp = self.home.join(tmp_name("delete"));
        fs::rename(&dir, &tmp).ctx(|| format!("removing {}", dir.display()))?;
        fs::remove_dir_all(&tmp).ctx(|| format!("removing {}", tmp.display()))
    }

    fn exists(&self, id: &str) -> bool {
        check_container_id(id).is_ok() && self.dir(id).join("lower.json").is_file()
    }

    fn rootfs_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("merged")
    }

    fn changes(&self, id: &str, layers: &[PathBuf]) -> Result<Vec<super::Change>, ImageError> {
        check_container_id(id)?;
        super::changes::from_upper(&self.dir(id).join("upper"), layers)
    }

    fn diff_source(&self, id: &str) -> Result<super::DiffSource, ImageError> {
        check_container_id(id)?;
        if !self.exists(id) {
            return Err(ImageError::NotFound(format!("no storage for container {id}")));
        }
        Ok(super::DiffSource::Upper { dir: self.dir(id).join("upper"), idmap: super::idmap::read(&self.dir(id))? })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlay_is_found_only_as_a_whole_name() {
        assert!(super::overlay_listed("nodev\tsysfs\nnodev\toverlay\n\text4\n"));
        assert!(!super::overlay_listed("nodev\tsysfs\n\text4\nnodev\toverlayfs-not\n"));
        assert!(!super::overlay_listed(""));
    }
}
