//! `POST /containers/{id}/update`: berth-api's body into the engine's `UpdateSpec`.

use super::unsupported;
use crate::api::error::ApiError;
use crate::engine::lifecycle::update::UpdateSpec;
use berth_api as wire;

/// The engine's update call, or the 400 message naming the first field Berth cannot update.
/// A zero is "leave as it is", as in Docker; an absent or nameless restart policy too.
pub fn spec(u: wire::ContainerUpdateRequest) -> Result<UpdateSpec, ApiError> {
    unsupported::refuse_update(&u)?;
    let r = u.resources;
    let set = |v: i64| (v != 0).then_some(v);
    Ok(UpdateSpec {
        memory: set(r.memory),
        memory_swap: set(r.memory_swap),
        nano_cpus: set(r.nano_cpus),
        cpu_shares: set(r.cpu_shares),
        cpu_quota: set(r.cpu_quota),
        cpu_period: set(r.cpu_period),
        pids_limit: r.pids_limit.filter(|v| *v != 0),
        restart_policy: u.restart_policy.filter(|p| !p.name.is_empty()).and_then(super::create::restart_policy),
    })
}
