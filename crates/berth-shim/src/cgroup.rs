//! Leaving the daemon's cgroup. The launcher is born wherever berthd runs — under systemd, the
//! cgroup of `berth.service` — and a monitor outlives that daemon. Left there, monitors (and every
//! container and runtime process they fork) would pile up in the unit across restarts: systemd
//! would count them in the unit's tasks and memory, report them as left-overs at the next start,
//! and `systemctl kill` would reach them. So the launcher moves itself, before it forks the
//! monitor, into the cgroup the daemon named (`ShimConfig::monitor_cgroup`: a sibling of the
//! container's cgroup, see `berthd/src/cgroups.rs`), in every hierarchy; everything the monitor
//! runs afterwards (the runtime's `create`, `exec`s, health probes, a successor monitor after a
//! restart by policy) is born there and never in the daemon's unit.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Moves this process into `path` (absolute cgroup path, e.g. `/berth/<id>.monitor`) in every
/// mounted hierarchy. Returns what failed, one message per hierarchy: a monitor that cannot move
/// (no write access to the cgroup fs: a rootless or odd host) still runs its container.
pub fn join(path: &str) -> Vec<String> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return vec![format!("invalid monitor cgroup {path:?}")];
    }
    let root = Path::new(ROOT);
    let v2 = root.join("cgroup.controllers").exists();
    let hierarchies: Vec<PathBuf> = if v2 {
        vec![root.to_path_buf()]
    } else {
        // v1 controllers, named hierarchies (name=systemd) and, on a hybrid host, the unified one
        // where systemd tracks its units. Symlinks (`cpu` → `cpu,cpuacct`) name a mount twice.
        std::fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .filter(|p| p.join("cgroup.procs").exists())
                    .collect()
            })
            .unwrap_or_default()
    };
    let pid = std::process::id().to_string();
    let mut errors = Vec::new();
    for h in hierarchies {
        // A cgroup removed between our mkdir and the move (the daemon tidying a removed
        // container's monitor cgroup) is made again once.
        let mut outcome = Ok(());
        for _ in 0..2 {
            outcome = make(&h, rel, !v2).and_then(|dir| {
                let procs = dir.join("cgroup.procs");
                std::fs::write(&procs, &pid).map_err(|e| (e.kind(), format!("{}: {e}", procs.display())))
            });
            if !matches!(&outcome, Err((ErrorKind::NotFound, _))) {
                break;
            }
        }
        if let Err((_, msg)) = outcome {
            errors.push(msg);
        }
    }
    errors
}

/// `mkdir -p <hierarchy>/<rel>`. A new v1 cpuset starts with no cpus and no memory nodes, and a
/// task cannot join it until they are set: they are copied from the parent, as runtimes do.
fn make(h: &Path, rel: &str, v1: bool) -> Result<PathBuf, (ErrorKind, String)> {
    let mut dir = h.to_path_buf();
    for name in rel.split('/') {
        let parent = dir.clone();
        dir.push(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err((e.kind(), format!("{}: {e}", dir.display()))),
        }
        if v1 && dir.join("cpuset.cpus").exists() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let own = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                if own.trim().is_empty() {
                    let from = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                    std::fs::write(dir.join(f), from.trim())
                        .map_err(|e| (e.kind(), format!("{}/{f}: {e}", dir.display())))?;
                }
            }
        }
    }
    Ok(dir)
}

/// [`join`] the config's monitor cgroup, warning (never failing) when a hierarchy refused.
pub fn join_configured(cfg: &berth_proto::ShimConfig) {
    let Some(path) = &cfg.monitor_cgroup else {
        return;
    };
    for e in join(path) {
        crate::diag!("warning: the monitor stays in the daemon's cgroup: {e}");
    }
}
