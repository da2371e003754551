//! `docker update`: new limits go to a live container's cgroup and into its record (so a restart
//! keeps them); a new restart policy is recorded, and handed to the running monitor, which
//! honours it while the daemon is away.

use crate::cgroupctl;
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::RestartPolicy;

/// What to change; `None` leaves a limit as it is.
#[derive(Debug, Default)]
pub struct UpdateSpec {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicy>,
}

pub async fn update(d: &Daemon, id: &str, u: UpdateSpec) -> Result<(), EngineError> {
    let e = d.store.get(id)?;
    let _op = e.op.lock().await;
    let c = e.snapshot();
    let mut h = c.host_config.clone();
    for (v, into) in [
        (u.memory, &mut h.memory),
        (u.memory_swap, &mut h.memory_swap),
        (u.nano_cpus, &mut h.nano_cpus),
        (u.cpu_shares, &mut h.cpu_shares),
        (u.cpu_quota, &mut h.cpu_quota),
        (u.cpu_period, &mut h.cpu_period),
        (u.pids_limit, &mut h.pids_limit),
    ] {
        if v.is_some() {
            *into = v;
        }
    }
    if let Some(rp) = u.restart_policy.clone() {
        if h.auto_remove.unwrap_or(false) && rp.name.as_deref() != Some("no") {
            return Err(EngineError::invalid(
                "Cannot update restart policy: can't create 'AutoRemove' container with restart policy",
            ));
        }
        h.restart_policy = Some(rp);
    }
    super::create::validate_host_config(&h)?;
    if h.memory.unwrap_or(0) > 0 && h.memory_swap.unwrap_or(0) > 0 && h.memory_swap < h.memory {
        return Err(EngineError::invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
    }
    if c.state.status.is_live() {
        let (quota, period) = match h.nano_cpus.unwrap_or(0) {
            n if n > 0 && u.nano_cpus.is_some() => (n * 100_000 / 1_000_000_000, 100_000),
            _ => (u.cpu_quota.unwrap_or(0), u.cpu_period.unwrap_or(0)),
        };
        let limits = cgroupctl::Limits {
            memory: u.memory.unwrap_or(0),
            memory_swap: u.memory_swap.unwrap_or(0),
            cpu_quota: quota,
            cpu_period: period,
            cpu_shares: u.cpu_shares.unwrap_or(0),
            pids_limit: u.pids_limit.unwrap_or(0),
        };
        let path = c.options.cgroups_path.clone();
        tokio::task::spawn_blocking(move || cgroupctl::update(&path, &limits))
            .await?
            .map_err(|m| EngineError::internal(format!("Cannot update container {}: {m}", c.id)))?;
    }
    let policy_changed = u.restart_policy.is_some() && h.restart_policy != c.host_config.restart_policy;
    e.update(|x| x.host_config = h)?;
    if policy_changed && c.state.status.is_live() {
        let spec = super::restart::monitor_spec(&e.snapshot());
        berth_proto::fsutil::write_json_atomic(&e.dir.join(berth_proto::paths::RESTART_POLICY), &spec)
            .map_err(|err| EngineError::internal(err.to_string()))?;
    }
    d.events.emit("container", "update", &c.id, super::attrs(&c));
    Ok(())
}
