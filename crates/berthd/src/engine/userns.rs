//! `--userns-remap`: every container not created with `--userns=host` runs in a user namespace
//! of its own with the daemon's mappings, so its root is a plain user on the host.
//!
//! The daemon makes that namespace itself before the start and pins it with a bind mount at
//! `<exec-root>/userns/<id>` (as it pins the network namespace), the network namespace being
//! created *inside* it: the runtime (libcontainer) enters the user namespace first and joins the
//! others after, which a network namespace owned by the host's user namespace would refuse, and
//! the container's root then administers its own network namespace (sysctls, sysfs) as under
//! runc. The spec names the pinned file (with the mappings, for runtimes that check them); an
//! exec joins it through `/proc/<pid>/ns/user`. A container that joins another's network or PID
//! namespace (`container:<id>`) joins that container's user namespace too.

use crate::config::Config;
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::Container;
use berth_proto::idmap::IdMaps;
use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// The mappings a new container gets: the daemon's, unless `--userns=host` or no remapping.
pub fn for_new_container(cfg: &Config, userns_mode: &str) -> Option<IdMaps> {
    let r = cfg.userns_remap.as_ref()?;
    (userns_mode != "host").then(|| r.maps.clone())
}

/// What Docker refuses under `--userns-remap` for a container in its user namespace
/// (`verifyPlatformContainerSettings`), by its wording.
pub fn check_create(
    cfg: &Config,
    userns_mode: &str,
    privileged: bool,
    network_mode: &str,
    pid_mode: &str,
) -> Result<(), EngineError> {
    if cfg.userns_remap.is_none() || userns_mode == "host" {
        return Ok(());
    }
    if privileged {
        return Err(EngineError::invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    if network_mode == "host" {
        return Err(EngineError::invalid(
            "cannot share the host's network namespace when user namespaces are enabled (HostConfig.NetworkMode \"host\" needs HostConfig.UsernsMode \"host\")",
        ));
    }
    if pid_mode == "host" {
        return Err(EngineError::invalid(
            "cannot share the host PID namespace when user namespaces are enabled (HostConfig.PidMode \"host\" needs HostConfig.UsernsMode \"host\")",
        ));
    }
    Ok(())
}

/// The container's own files (`/etc/hostname`, `hosts`, `resolv.conf`) belong to its root.
pub fn chown_etc_files(c_dir: &Path, maps: &IdMaps) -> std::io::Result<()> {
    let (uid, gid) = maps.root();
    for f in ["hostname", "hosts", "resolv.conf"] {
        std::os::unix::fs::chown(c_dir.join(f), Some(uid), Some(gid))?;
    }
    Ok(())
}

pub fn userns_path(cfg: &Config, id: &str) -> PathBuf {
    cfg.exec_root.join("userns").join(id)
}

/// Bind-mounts `/proc/<pid>/ns/<name>` of `holder` on `file` (created empty).
fn pin(holder: &berth_sys::userns::NsHolder, name: &str, file: &Path) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(file)?;
    nix::mount::mount(Some(&holder.ns_path(name)), file, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .map_err(std::io::Error::from)
}

fn unpin(file: &Path) {
    while berth_proto::fsutil::is_mount_point(file) {
        if nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
    let _ = std::fs::remove_file(file);
}

/// Before the start of a remapped container: its user namespace, pinned, and (when `netns` is
/// given, a bridge or user network) its network namespace inside it, pinned at `netns`. What is
/// already pinned (a restart by the monitor reuses both) is kept.
pub fn prepare(d: &Daemon, c: &Container, netns: Option<&Path>) -> Result<(), String> {
    let Some(maps) = &c.options.userns else {
        return Ok(());
    };
    let user = userns_path(&d.config(), &c.id);
    let pinned = |p: &Path| berth_proto::fsutil::is_mount_point(p);
    let need_net = netns.filter(|n| !pinned(n));
    if pinned(&user) && need_net.is_none() {
        return Ok(());
    }
    // A network namespace left from a run whose user namespace is gone would be the host's
    // or another's: both are made again together.
    unpin(&user);
    if let Some(n) = netns {
        unpin(n);
    }
    let holder = berth_sys::userns::NsHolder::new(&maps.uid_map(), &maps.gid_map(), netns.is_some())
        .map_err(|e| format!("creating the container's user namespace: {e}"))?;
    pin(&holder, "user", &user).map_err(|e| format!("pinning the user namespace at {}: {e}", user.display()))?;
    if let Some(n) = netns {
        if let Err(e) = pin(&holder, "net", n) {
            unpin(&user);
            return Err(format!("pinning the network namespace at {}: {e}", n.display()));
        }
    }
    Ok(())
}

/// After the container stopped (with its network namespace): the pinned user namespace goes.
pub fn release(cfg: &Config, id: &str) {
    unpin(&userns_path(cfg, id));
}

/// The pid in a `/proc/<pid>/ns/<x>` path.
fn proc_pid(p: &Path) -> Option<u32> {
    let s = p.to_str()?.strip_prefix("/proc/")?;
    s.split('/').next()?.parse().ok()
}

fn same_ns(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Puts the user namespace and the mappings into the spec of a remapped container.
pub fn apply_to_spec(cfg: &Config, c: &Container, spec: &mut Spec) -> Result<(), String> {
    let Some(maps) = &c.options.userns else {
        return Ok(());
    };
    let linux = spec.linux_mut().as_mut().ok_or("the spec has no linux section")?;
    let mut nss = linux.namespaces().clone().unwrap_or_default();
    // Another container's namespaces are owned by its user namespace: join that one.
    let donor = nss
        .iter()
        .filter(|n| matches!(n.typ(), LinuxNamespaceType::Network | LinuxNamespaceType::Pid))
        .find_map(|n| n.path().as_deref().and_then(proc_pid));
    let user = match donor {
        Some(pid) => {
            let p = PathBuf::from(format!("/proc/{pid}/ns/user"));
            if same_ns(&p, Path::new("/proc/self/ns/user")) {
                return Err(format!(
                    "container {} joins the namespaces of a container that runs in the host's user namespace (--userns=host): give it --userns=host too",
                    c.name
                ));
            }
            p
        }
        None => userns_path(cfg, &c.id),
    };
    nss.retain(|n| n.typ() != LinuxNamespaceType::User);
    nss.insert(
        0,
        oci_spec::runtime::LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .path(user)
            .build()
            .map_err(|e| e.to_string())?,
    );
    linux.set_namespaces(Some(nss));
    let conv = |v: &[berth_proto::idmap::IdRange]| {
        v.iter()
            .map(|r| {
                LinuxIdMappingBuilder::default().container_id(r.container_id).host_id(r.host_id).size(r.size).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    };
    // Docker's default `ping_group_range` ("0 2147483647") names gids the namespace does not
    // map, which the kernel refuses from inside it: the same meaning is every mapped gid.
    if let Some(sysctl) = linux.sysctl_mut().as_mut() {
        if let Some(v) = sysctl.get_mut("net.ipv4.ping_group_range") {
            if v == "0 2147483647" {
                let last = maps.gids.iter().map(|r| r.container_id as u64 + r.size as u64).max().unwrap_or(1);
                *v = format!("0 {}", last.saturating_sub(1));
            }
        }
    }
    linux.set_uid_mappings(Some(conv(&maps.uids)?));
    linux.set_gid_mappings(Some(conv(&maps.gids)?));
    Ok(())
}

/// Docker's check at start-up: every directory above the data-root and the exec-root must let
/// the remapped root through, or no container could reach its rootfs.
pub fn check_ancestors(cfg: &Config) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Some(r) = &cfg.userns_remap else {
        return Ok(());
    };
    let (uid, gid) = r.maps.root();
    for root in [&cfg.data_root_top, &cfg.exec_root] {
        for dir in root.ancestors().skip(1) {
            let Ok(md) = std::fs::metadata(dir) else {
                continue;
            };
            let m = md.mode();
            let ok = m & 0o001 != 0 || (md.gid() == gid && m & 0o010 != 0) || (md.uid() == uid && m & 0o100 != 0);
            if !ok {
                return Err(format!(
                    "userns-remap: {} (above {}) restricts access to the remapped root {uid}:{gid}: allow 'o+x' on it",
                    dir.display(),
                    root.display()
                ));
            }
        }
    }
    Ok(())
}

/// Pinned user namespaces no record claims (a start or a removal cut short), only under
/// remapping: a daemon started without it shares the exec-root but not the records.
pub fn sweep(cfg: &Config, known: &std::collections::HashSet<String>) {
    if cfg.userns_remap.is_none() {
        return;
    }
    let Ok(rd) = std::fs::read_dir(cfg.exec_root.join("userns")) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            tracing::info!("releasing a user namespace no container records: {name}");
            unpin(&e.path());
        }
    }
}
