//! Storage for containers in a user namespace (`--userns-remap`): the image's layers are shown
//! with their owners shifted into the remapped range. overlay2 stacks idmapped mounts of the
//! shared layer directories (no copy; overlayfs takes private clones of its layers at mount, so
//! the idmapped mounts are detached at once and nothing is left in the mount table), and falls
//! back to a chowned copy of each layer, made once per container, where the kernel or the file
//! system cannot idmap (or when `BERTH_STORAGE_NO_IDMAP=1` asks for it).

use crate::error::{ImageError, IoContext};
use berth_proto::idmap::IdMaps;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Beside a container's storage: the mappings it was created with.
pub(crate) const IDMAP_FILE: &str = "idmap.json";

pub(crate) fn read(dir: &Path) -> Result<Option<IdMaps>, ImageError> {
    berth_proto::fsutil::read_json(&dir.join(IDMAP_FILE)).ctx(|| format!("reading {}/{IDMAP_FILE}", dir.display()))
}

/// Whether the idmapped mounts are not to be tried (tests, or a file system known not to).
fn forced_copy() -> bool {
    std::env::var_os("BERTH_STORAGE_NO_IDMAP").is_some_and(|v| v == "1")
}

/// Mounts each of `lowers` idmapped at `<dir>/idmapped/<i>`; returns those paths. The caller
/// detaches them once the overlay is mounted ([`detach`]).
fn idmapped(dir: &Path, lowers: &[String], maps: &IdMaps) -> std::io::Result<Vec<String>> {
    let holder = berth_sys::userns::NsHolder::new(&maps.uid_map(), &maps.gid_map(), false)?;
    let userns = fs::File::open(holder.ns_path("user"))?;
    let base = dir.join("idmapped");
    detach(&base);
    let mut out = Vec::with_capacity(lowers.len());
    for (i, l) in lowers.iter().enumerate() {
        let target = base.join(i.to_string());
        fs::create_dir_all(&target)?;
        if let Err(e) = berth_sys::userns::idmapped_bind(Path::new(l), &target, userns.as_fd()) {
            detach(&base);
            return Err(e);
        }
        out.push(target.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// Detaches what [`idmapped`] mounted under `base` (a mounted overlay keeps its own clones).
pub(crate) fn detach(base: &Path) {
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            while berth_proto::fsutil::is_mount_point(&e.path()) {
                if nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
    }
}

/// The lower directories to stack for a remapped container: idmapped mounts, or else chowned
/// copies (`<dir>/shifted/<i>`).
pub(crate) fn lowers(dir: &Path, lowers: &[String], maps: &IdMaps) -> Result<Vec<String>, ImageError> {
    if !forced_copy() && !dir.join("shifted").exists() {
        match idmapped(dir, lowers, maps) {
            Ok(v) => return Ok(v),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "idmapped layers unavailable ({e}): using a chowned copy")
            }
        }
    }
    let base = dir.join("shifted");
    fs::create_dir_all(&base).ctx(|| format!("creating {}", base.display()))?;
    let mut out = Vec::with_capacity(lowers.len());
    for (i, l) in lowers.iter().enumerate() {
        let target = base.join(i.to_string());
        if !target.is_dir() {
            let tmp = base.join(format!(".tmp-{i}"));
            let _ = fs::remove_dir_all(&tmp);
            copy_tree(Path::new(l), &tmp)?;
            shift_tree(&tmp, maps)?;
            fs::rename(&tmp, &target).ctx(|| format!("creating {}", target.display()))?;
        }
        out.push(target.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// A copy keeping owners, modes, times, xattrs (overlay whiteouts and opaque markers among them)
/// and device nodes: coreutils' `cp -a`.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(src)
        .arg(dst)
        .output()
        .ctx(|| "running cp".into())?;
    if !out.status.success() {
        return Err(ImageError::Other(format!(
            "copying {} for the user namespace: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Gives every entry under `root` (itself included, symlinks not followed) the host owner its
/// container owner maps to; ids outside the mapping stay (the container sees them as nobody).
/// chown clears set-id bits: they are given back.
pub fn shift_tree(root: &Path, maps: &IdMaps) -> Result<(), ImageError> {
    let mut todo: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = fs::symlink_metadata(&p).ctx(|| format!("stat {}", p.display()))?;
        let uid = maps.host_uid(md.uid()).unwrap_or(md.uid());
        let gid = maps.host_gid(md.gid()).unwrap_or(md.gid());
        if (uid, gid) != (md.uid(), md.gid()) {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).ctx(|| format!("chown {}", p.display()))?;
            let mode = md.permissions().mode();
            if md.is_file() && mode & 0o6000 != 0 {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode & 0o7777))
                    .ctx(|| format!("chmod {}", p.display()))?;
            }
        }
        if md.is_dir() {
            for e in fs::read_dir(&p).ctx(|| format!("reading {}", p.display()))? {
                todo.push(e.ctx(|| format!("reading {}", p.display()))?.path());
            }
        }
    }
    Ok(())
}
