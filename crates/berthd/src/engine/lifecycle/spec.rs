//! From a container record to the OCI spec its runtime gets. What depends on the host or the
//! image (users and groups, device numbers, the other container's pid, the init binary) is
//! looked up here, at every start; everything else was validated at create (`validate.rs`).

use crate::config::Config;
use crate::model::Container;
use crate::oci::{self, devices, init, ulimits, Ipc, MountSpec, NetNs, Ns, Resources, SpecInput};
use std::path::{Path, PathBuf};

pub fn build(
    c: &Container,
    rootfs: &Path,
    netns: Option<&Path>,
    cfg: &Config,
) -> Result<oci_spec::runtime::Spec, String> {
    let h = &c.host_config;
    let (uid, gid, mut additional_gids) = oci::resolve_user(rootfs, c.config.user.as_deref().unwrap_or(""))?;
    for g in oci::group_add(rootfs, h.group_add.as_deref().unwrap_or_default())? {
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    let cwd = c.config.working_dir.clone().unwrap_or_default();
    // Made by the daemon: owned by the host ids the container's user maps to.
    let (wuid, wgid) = match &c.options.userns {
        Some(m) => (m.host_uid(uid).unwrap_or(uid), m.host_gid(gid).unwrap_or(gid)),
        None => (uid, gid),
    };
    crate::rootfs::ensure_workdir(rootfs, &cwd, wuid, wgid)
        .map_err(|e| format!("creating working directory {cwd}: {e}"))?;
    let mode = c.options.network_mode.as_str();
    let net = match mode {
        "host" => NetNs::Host,
        m if m.starts_with("container:") => {
            NetNs::Join(format!("/proc/{}/ns/net", joined_pid(c, m, "network")?).into())
        }
        _ => match netns {
            Some(p) => NetNs::Join(p.to_path_buf()),
            None => NetNs::New,
        },
    };
    let pid = match h.pid_mode.as_deref().unwrap_or("") {
        "host" => Ns::Host,
        m if m.starts_with("container:") => Ns::Join(format!("/proc/{}/ns/pid", joined_pid(c, m, "PID")?).into()),
        _ => Ns::New,
    };
    let ipc = match h.ipc_mode.as_deref().unwrap_or("") {
        "host" => Ipc::Host,
        "none" => Ipc::None,
        _ => Ipc::Private,
    };
    let cgroupns =
        h.cgroupns_mode.as_deref().filter(|m| !m.is_empty()).unwrap_or(&cfg.containers.default_cgroupns_mode);
    let privileged = h.privileged.unwrap_or(false);
    let (devs, device_rules) = devices_of(c, privileged)?;
    let limits = ulimits::merged(h.ulimits.as_deref().unwrap_or_default(), &cfg.containers.default_ulimits);
    // Docker adds the init only where it is PID 1: not in the host's or another container's PID namespace.
    let wants_init = h.init.unwrap_or(cfg.containers.init) && pid == Ns::New;
    let init = match wants_init {
        true => Some(init::private_copy(&init::lookup(cfg.containers.init_path.as_deref())?, &container_dir(c))?),
        false => None,
    };
    let mut args = vec![c.path.clone()];
    args.extend(c.args.iter().cloned());
    let input = SpecInput {
        args,
        env: c.config.env.clone().unwrap_or_default(),
        cwd,
        uid,
        gid,
        additional_gids,
        hostname: c.config.hostname.clone().unwrap_or_default(),
        domainname: c.config.domainname.clone().unwrap_or_default(),
        tty: c.config.tty.unwrap_or(false),
        rootfs: rootfs.to_path_buf(),
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        net_own: mode != "host" && !mode.starts_with("container:"),
        net,
        pid,
        ipc,
        uts_host: h.uts_mode.as_deref() == Some("host"),
        cgroupns_private: cgroupns == "private",
        resources: Resources {
            memory: h.memory.unwrap_or(0),
            memory_swap: h.memory_swap.unwrap_or(0),
            memory_reservation: h.memory_reservation.unwrap_or(0),
            memory_swappiness: h.memory_swappiness.map(|s| s as u64),
            nano_cpus: h.nano_cpus.unwrap_or(0),
            cpu_shares: h.cpu_shares.unwrap_or(0),
            cpu_quota: h.cpu_quota.unwrap_or(0),
            cpu_period: h.cpu_period.unwrap_or(0),
            pids_limit: h.pids_limit.unwrap_or(0),
            cpuset_cpus: h.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: h.cpuset_mems.clone().unwrap_or_default(),
            throttles: throttles(h),
        },
        mounts: mounts(c),
        privileged,
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        devices: devs,
        device_rules,
        masked_paths: h.masked_paths.clone(),
        readonly_paths: h.readonly_paths.clone(),
        sysctls: h.sysctls.clone().unwrap_or_default(),
        rlimits: ulimits::to_rlimits(&limits)?,
        oom_score_adj: h.oom_score_adj.unwrap_or(0),
        shm_size: h.shm_size.unwrap_or(0),
        init,
        annotations: h.annotations.clone().unwrap_or_default(),
        cgroups_path: c.options.cgroups_path.clone(),
    };
    let mut spec = oci::spec(&input)?;
    // The recorded filter, resolved for the spec's final capabilities.
    crate::seccomp::apply_to_spec(&mut spec, &c.options.seccomp, c.options.no_new_privileges)?;
    Ok(spec)
}

/// `--device`s and `--device-cgroup-rule`s; `--privileged`: every host device, plus the
/// `--device`s that put a node at another path (Docker's rule).
fn devices_of(
    c: &Container,
    privileged: bool,
) -> Result<(Vec<oci_spec::runtime::LinuxDevice>, Vec<oci_spec::runtime::LinuxDeviceCgroup>), String> {
    let h = &c.host_config;
    let mut devs = if privileged { devices::host_devices() } else { vec![] };
    let mut rules = vec![];
    for m in h.devices.iter().flatten() {
        if privileged && m.path_in_container == m.path_on_host {
            continue;
        }
        let (d, r) = devices::from_mapping(m)?;
        devs.extend(d);
        rules.extend(r);
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        rules.push(devices::parse_rule(r)?);
    }
    Ok((devs, rules))
}

fn mounts(c: &Container) -> Vec<MountSpec> {
    let h = &c.host_config;
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
    mounts
}

fn bind(src: &Path, dst: &str, ro: bool) -> MountSpec {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        options.push("ro".into());
    }
    MountSpec { destination: dst.into(), source: src.display().to_string(), kind: "bind".into(), options }
}

/// `<data-root>/containers/<id>`.
fn container_dir(c: &Container) -> PathBuf {
    Path::new(&c.log_path).parent().unwrap_or(Path::new("/nonexistent")).to_path_buf()
}

/// The pid of the running container a `container:<id>` mode names (`what`: its namespace),
/// checked by its identity (invariant 4) where the record has one: a pid reused by another
/// process must never hand its namespace to this container.
fn joined_pid(c: &Container, mode: &str, what: &str) -> Result<i32, String> {
    let target = mode.trim_start_matches("container:");
    let dir = container_dir(c);
    let rec: Option<Container> =
        berth_proto::fsutil::read_json(&dir.parent().unwrap_or(Path::new("/")).join(target).join("container.json"))
            .ok()
            .flatten();
    let alive = |t: &Container| {
        t.state.pid > 0
            && (t.state.pid_start_time == 0
                || berth_sys::ProcessIdentity::of(t.state.pid).is_some_and(|i| i.start_time == t.state.pid_start_time))
    };
    match rec {
        Some(t) if alive(&t) => Ok(t.state.pid),
        _ => Err(format!("cannot join {what} namespace of a non running container: {target}")),
    }
}

fn throttles(h: &crate::model::HostConfig) -> oci::blkio::Throttles {
    let pairs = |v: &Option<Vec<crate::model::ThrottleDevice>>| {
        v.iter().flatten().map(|t| (t.path.clone(), t.rate)).collect::<Vec<_>>()
    };
    oci::blkio::Throttles {
        read_bps: pairs(&h.blkio_device_read_bps),
        write_bps: pairs(&h.blkio_device_write_bps),
        read_iops: pairs(&h.blkio_device_read_iops),
        write_iops: pairs(&h.blkio_device_write_iops),
    }
}
