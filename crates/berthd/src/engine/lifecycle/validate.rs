//! Create-time checks of the security-relevant options, each refused with a 400 naming what is
//! wrong before anything is prepared: capabilities, devices,
//! namespace modes, sysctls, ulimits, the OOM score, masked paths, the init. Defaults the daemon
//! chooses (IPC and cgroup namespace modes) are written into the record here, as dockerd does,
//! so that inspect shows them and a daemon restarted with other defaults keeps them (invariant 8).

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::{ContainerConfig, HostConfig};
use crate::oci::{caps, devices, init, sysctl, ulimits};

type Result<T> = std::result::Result<T, EngineError>;

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::invalid(m)
}

/// `network_mode` is the resolved one (`host`, `none`, `bridge`, `container:<id>`, a network).
pub fn security_options(d: &Daemon, config: &ContainerConfig, host: &mut HostConfig, network_mode: &str) -> Result<()> {
    let privileged = host.privileged.unwrap_or(false);
    caps::normalize(host.cap_add.as_deref().unwrap_or_default()).map_err(bad)?;
    caps::normalize(host.cap_drop.as_deref().unwrap_or_default()).map_err(bad)?;
    for m in host.devices.iter_mut().flatten() {
        devices::check_mapping(m).map_err(bad)?;
    }
    for r in host.device_cgroup_rules.iter().flatten() {
        devices::parse_rule(r).map_err(bad)?;
    }
    for u in host.ulimits.iter().flatten() {
        ulimits::check(u).map_err(bad)?;
    }
    namespace_modes(d, config, host)?;
    crate::engine::userns::check_create(
        &d.config(),
        host.userns_mode.as_deref().unwrap_or(""),
        privileged,
        network_mode,
        host.pid_mode.as_deref().unwrap_or(""),
    )?;
    let own_net = own_network(d, network_mode);
    let own = sysctl::OwnNamespaces {
        ipc: host.ipc_mode.as_deref() != Some("host"),
        net: own_net,
        uts: host.uts_mode.as_deref() != Some("host"),
        user: false,
    };
    for (k, v) in host.sysctls.iter().flatten() {
        sysctl::check(k, v, own).map_err(bad)?;
    }
    for p in host.masked_paths.iter().chain(host.readonly_paths.iter()).flatten() {
        if !p.starts_with('/') {
            return Err(bad(format!("invalid masked or read-only path {p:?}: must be absolute")));
        }
    }
    oom_score_adj(host.oom_score_adj.unwrap_or(0))?;
    if host.shm_size.unwrap_or(0) < 0 {
        return Err(bad("SHM size can not be less than 0"));
    }
    if host.annotations.iter().flatten().any(|(k, _)| k.is_empty()) {
        return Err(bad("invalid Annotations: the empty string is not permitted as an annotation key"));
    }
    resources(host)?;
    let cfg = d.config();
    if host.init.unwrap_or(cfg.containers.init) {
        init::lookup(cfg.containers.init_path.as_deref()).map_err(bad)?;
    }
    if privileged && host.devices.iter().flatten().any(|m| m.cgroup_permissions != "rwm") {
        tracing::warn!("custom device permissions are ignored for a privileged container: it may use every device");
    }
    Ok(())
}

/// Docker's forms of `--pid`, `--uts`, `--ipc`, `--cgroupns` and `--userns`; `container:<name>`
/// resolved to the id, the daemon's defaults filled in.
fn namespace_modes(d: &Daemon, config: &ContainerConfig, host: &mut HostConfig) -> Result<()> {
    let cfg = d.config();
    match host.pid_mode.as_deref().unwrap_or("") {
        "" | "host" => {}
        m if m.starts_with("container:") => {
            // A 400, not a 404: the docker CLI takes a 404 from create for a missing image and pulls.
            let target = d
                .store
                .get(&m["container:".len()..])
                .map_err(|e| bad(format!("failed to join PID namespace: {e}")))?
                .snapshot();
            host.pid_mode = Some(format!("container:{}", target.id));
        }
        m => return Err(bad(format!("invalid PID mode: {m}"))),
    }
    match host.uts_mode.as_deref().unwrap_or("") {
        "" => {}
        "host" if config.hostname.as_deref().is_some_and(|h| !h.is_empty()) => {
            return Err(bad("conflicting options: hostname and the UTS mode"));
        }
        // Without a UTS namespace of its own the runtime would drop the name silently.
        "host" if config.domainname.as_deref().is_some_and(|h| !h.is_empty()) => {
            return Err(bad("conflicting options: domainname and the UTS mode"));
        }
        "host" => {}
        m => return Err(bad(format!("invalid UTS mode: {m}"))),
    }
    match host.ipc_mode.as_deref().unwrap_or("") {
        "" => host.ipc_mode = Some(cfg.containers.default_ipc_mode.clone()),
        "private" | "none" | "host" => {}
        m @ "shareable" => {
            return Err(bad(format!("HostConfig.IpcMode {m:?} is not supported by Berth (private, none and host are)")))
        }
        m if m.starts_with("container:") => {
            return Err(bad(format!("HostConfig.IpcMode {m:?} is not supported by Berth (private, none and host are)")))
        }
        m => return Err(bad(format!("invalid IPC mode: {m}"))),
    }
    match host.cgroupns_mode.as_deref().unwrap_or("") {
        "" => host.cgroupns_mode = Some(cfg.containers.default_cgroupns_mode.clone()),
        "host" | "private" => {}
        m => return Err(bad(format!("invalid cgroup namespace mode: {m}"))),
    }
    userns_mode(host.userns_mode.as_deref().unwrap_or(""))
}

/// Docker's modes: nothing (the daemon's `--userns-remap`, or the host's namespace without it)
/// or `host`.
pub fn userns_mode(m: &str) -> Result<()> {
    match m {
        "" | "host" => Ok(()),
        m => Err(bad(format!(
            "HostConfig.UsernsMode {m:?} is not supported by Berth: \"host\", or nothing for the daemon's userns-remap setting"
        ))),
    }
}

/// Whether the container's network namespace is its own (for net.* sysctls): not the host's,
/// and not a joined container's that is itself the host's.
fn own_network(d: &Daemon, mode: &str) -> bool {
    match mode {
        "host" => false,
        m if m.starts_with("container:") => {
            d.store.get(&m["container:".len()..]).map(|t| t.snapshot().options.network_mode != "host").unwrap_or(false)
        }
        _ => true,
    }
}

/// -1000..=1000; going below this daemon's own score needs CAP_SYS_RESOURCE, without which the
/// runtime could only keep the daemon's score: refused here instead.
fn oom_score_adj(v: i64) -> Result<()> {
    if !(-1000..=1000).contains(&v) {
        return Err(bad(format!("Invalid value {v}, range for oom score adj is [-1000, 1000]")));
    }
    let own: i64 =
        std::fs::read_to_string("/proc/self/oom_score_adj").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let can = caps::available().iter().any(|c| c == "CAP_SYS_RESOURCE");
    if v < own && !can {
        return Err(bad(format!(
            "OomScoreAdj {v} is below this daemon's {own}, and lowering it needs CAP_SYS_RESOURCE, which berthd does not have"
        )));
    }
    Ok(())
}

fn resources(h: &HostConfig) -> Result<()> {
    let reservation = h.memory_reservation.unwrap_or(0);
    if reservation < 0 {
        return Err(bad("invalid memory reservation: must be a positive value"));
    }
    if let Some(s) = h.memory_swappiness {
        if !(0..=100).contains(&s) {
            return Err(bad(format!("Invalid value: {s}, valid memory swappiness range is 0-100")));
        }
        if crate::cgroupctl::is_v2() {
            return Err(bad(format!(
                "HostConfig.MemorySwappiness is not supported by Berth on cgroup v2 (given: {s}): the kernel has no per-cgroup swappiness there"
            )));
        }
    }
    let mem = h.memory.unwrap_or(0);
    if mem > 0 && reservation > mem {
        return Err(bad("Minimum memory limit can not be less than memory reservation limit, see usage"));
    }
    // A throttle on a path that is not a block device is refused at create, naming it, rather
    // than failing every start.
    for (field, list) in [
        ("HostConfig.BlkioDeviceReadBps", &h.blkio_device_read_bps),
        ("HostConfig.BlkioDeviceWriteBps", &h.blkio_device_write_bps),
        ("HostConfig.BlkioDeviceReadIOps", &h.blkio_device_read_iops),
        ("HostConfig.BlkioDeviceWriteIOps", &h.blkio_device_write_iops),
    ] {
        for t in list.iter().flatten() {
            crate::oci::blkio::device_numbers(field, &t.path).map_err(bad)?;
        }
    }
    let mems = h.cpuset_mems.as_deref().unwrap_or("");
    if !mems.bytes().all(|b| b.is_ascii_digit() || b == b',' || b == b'-') {
        return Err(bad(format!("Invalid value {mems} for cpuset mems")));
    }
    Ok(())
}
