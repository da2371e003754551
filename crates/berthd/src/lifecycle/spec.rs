//! From a container record to the OCI spec its runtime gets.

use crate::oci::{self, MountSpec, NetNs, Resources, SpecInput};
use crate::state::Container;
use std::path::Path;

pub fn build(c: &Container, rootfs: &Path, netns: Option<&Path>) -> Result<serde_json::Value, String> {
    let h = &c.host_config;
    let (uid, gid, additional_gids) = oci::resolve_user(rootfs, c.config.user.as_deref().unwrap_or(""))?;
    let cwd = c.config.working_dir.clone().unwrap_or_default();
    crate::rootfs::ensure_workdir(rootfs, &cwd, uid, gid).map_err(|e| format!("creating working directory {cwd}: {e}"))?;
    let net = match c.options.network_mode.as_str() {
        "host" => NetNs::Host,
        m if m.starts_with("container:") => NetNs::Join(format!("/proc/{}/ns/net", joined_pid(c)?).into()),
        _ => match netns {
            Some(p) => NetNs::Join(p.to_path_buf()),
            None => NetNs::New,
        },
    };
    let mut mounts = vec![
        bind(&c.hostname_path, "/etc/hostname", false),
        bind(&c.hosts_path, "/etc/hosts", false),
        bind(&c.resolv_conf_path, "/etc/resolv.conf", false),
    ];
    if c.mounts.is_empty() {
        // Containers recorded before mounts were resolved at create: their binds as given.
        for b in h.binds.iter().flatten() {
            let parts: Vec<&str> = b.split(':').collect();
            let ro = parts.get(2).is_some_and(|o| o.split(',').any(|x| x == "ro"));
            mounts.push(bind(Path::new(parts[0]), parts[1], ro));
        }
    }
    for m in &c.mounts {
        mounts.push(match m.kind.as_str() {
            "tmpfs" => {
                let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                options.extend(m.options.iter().filter(|o| !matches!(o.as_str(), "rw" | "ro")).cloned());
                if !m.rw {
                    options.push("ro".into());
                }
                MountSpec { destination: m.destination.clone(), source: "tmpfs".into(), kind: "tmpfs".into(), options }
            }
            _ => {
                let mut b = bind(&m.source, &m.destination, !m.rw);
                if !m.propagation.is_empty() && m.propagation != "rprivate" {
                    b.options.retain(|o| o != "rprivate");
                    b.options.push(m.propagation.clone());
                }
                b
            }
        });
    }
    let mut args = vec![c.path.clone()];
    args.extend(c.args.iter().cloned());
    let input = SpecInput {
        args,
        env: c.config.env.clone().unwrap_or_default(),
        cwd: c.config.working_dir.clone().unwrap_or_default(),
        uid,
        gid,
        additional_gids,
        hostname: c.config.hostname.clone().unwrap_or_default(),
        tty: c.config.tty.unwrap_or(false),
        rootfs: rootfs.to_path_buf(),
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        net,
        resources: Resources {
            memory: h.memory.unwrap_or(0),
            memory_swap: h.memory_swap.unwrap_or(0),
            nano_cpus: h.nano_cpus.unwrap_or(0),
            cpu_shares: h.cpu_shares.unwrap_or(0),
            cpu_quota: h.cpu_quota.unwrap_or(0),
            cpu_period: h.cpu_period.unwrap_or(0),
            pids_limit: h.pids_limit.unwrap_or(0),
            cpuset_cpus: h.cpuset_cpus.clone().unwrap_or_default(),
        },
        mounts,
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        cgroups_path: c.options.cgroups_path.clone(),
    };
    let mut spec = oci::spec(&input);
    // Issue 13 (seccomp): the recorded filter, resolved for the spec's final capabilities.
    crate::seccomp::apply_to_spec(&mut spec, &c.options.seccomp, c.options.no_new_privileges)?;
    Ok(spec)
}

fn bind(src: &Path, dst: &str, ro: bool) -> MountSpec {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        options.push("ro".into());
    }
    MountSpec { destination: dst.into(), source: src.display().to_string(), kind: "bind".into(), options }
}

fn joined_pid(c: &Container) -> Result<i32, String> {
    let target = c.options.network_mode.trim_start_matches("container:");
    let rec: Option<Container> =
        berth_proto::fsutil::read_json(&Path::new(&c.log_path).parent().and_then(|p| p.parent()).unwrap_or(Path::new("/")).join(target).join("container.json"))
            .ok()
            .flatten();
    match rec {
        Some(t) if t.state.pid > 0 => Ok(t.state.pid),
        _ => Err(format!("cannot join network of a non running container: {target}")),
    }
}
