//! The networks a create names in `NetworkingConfig.EndpointsConfig`. The one of `NetworkMode`
//! is joined by the create itself; every other one is checked before anything is written (a
//! network that does not exist is a 404, as on dockerd since API 1.44) and joined once the
//! container is recorded, as `docker network connect` would.

use crate::engine::daemon::Daemon;
use crate::engine::error::EngineError;
use crate::engine::netconnect::Target;
use crate::engine::network::EndpointRequest;
use crate::engine::store::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The endpoint request for `network_mode`, and the other networks to join after the create.
pub fn plan(
    d: &Daemon,
    network_mode: &str,
    mut endpoints: BTreeMap<String, EndpointRequest>,
) -> Result<(EndpointRequest, Vec<(Target, EndpointRequest)>), EngineError> {
    let primary = take_primary(d, network_mode, &mut endpoints);
    if d.net.user.get(network_mode).is_none() {
        crate::engine::netconnect::check_default_bridge(&primary)?;
    }
    let mut extra = Vec::new();
    for (key, req) in endpoints {
        let target = Target::resolve(d, &key)?;
        if target.name == "host" || target.name == "none" {
            return Err(EngineError::invalid(format!("container cannot also join the {} network", target.name)));
        }
        if target.user.is_none() {
            crate::engine::netconnect::check_default_bridge(&req)?;
        }
        if network_mode == "host" || network_mode == "none" || network_mode.starts_with("container:") {
            return Err(EngineError::invalid(format!(
                "container sharing a network namespace ({network_mode}) cannot also join network {key}"
            )));
        }
        extra.push((target, req));
    }
    Ok((primary, extra))
}

/// Removes and returns the request under `network_mode`, whichever way the client spelled the
/// network (name, id or id prefix).
fn take_primary(d: &Daemon, network_mode: &str, endpoints: &mut BTreeMap<String, EndpointRequest>) -> EndpointRequest {
    // The CLI names the default bridge `default` when no --network was given.
    let key = endpoints.keys().find(|k| {
        k.as_str() == network_mode
            || (network_mode == "bridge" && k.as_str() == "default")
            || d.net.user.get(k).is_some_and(|n| n.name == network_mode)
    });
    key.cloned().and_then(|k| endpoints.remove(&k)).unwrap_or_default()
}

/// Joins the other networks; what fails is a warning of the create, as dockerd's are.
pub async fn join(d: &Arc<Daemon>, e: &Arc<Entry>, extra: Vec<(Target, EndpointRequest)>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (target, req) in extra {
        let name = target.name.clone();
        if let Err(err) = crate::engine::netconnect::connect(d, e, target, req).await {
            warnings.push(format!("joining network {name}: {err}"));
        }
    }
    warnings
}
