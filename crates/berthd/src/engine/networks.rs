//! `docker network create`, `rm` and `prune` for user-defined networks; the built-in ones
//! (`bridge`, `host`, `none`) can be neither created nor removed.

use crate::engine::daemon::Daemon;
use crate::engine::usernets::{NetworkSpec, UserNet};
use crate::engine::EngineError;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const BUILTIN: &[&str] = &["bridge", "host", "none"];

/// Built-in networks get stable ids derived from their names.
pub fn builtin_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("berth-network-{name}")))
}

fn attrs(un: &UserNet) -> BTreeMap<String, String> {
    BTreeMap::from([("name".to_string(), un.name.clone()), ("type".to_string(), "bridge".to_string())])
}

pub fn create(d: &Daemon, spec: NetworkSpec) -> Result<UserNet, EngineError> {
    if spec.name.is_empty() {
        return Err(EngineError::invalid("network name must not be empty"));
    }
    if BUILTIN.contains(&spec.name.as_str()) {
        return Err(EngineError::forbidden(format!("{} is a pre-defined network and cannot be created", spec.name)));
    }
    let cfg = d.config();
    // The default bridge's subnet is not a user network's, but no user network may overlap it.
    let taken: Vec<berth_net::Ipv4Net> = crate::config::parse_cidr(&cfg.bip)
        .and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok())
        .map(|n| vec![n.trunc()])
        .unwrap_or_default();
    let un = d.net.user.create(spec, &taken, &cfg.default_address_pools)?;
    d.events.emit("network", "create", &un.id, attrs(&un));
    Ok(un)
}

/// Removes a user network nobody is attached to: its bridge, its pool and its rules.
pub async fn remove(d: &Arc<Daemon>, un: &UserNet) -> Result<(), EngineError> {
    let users: Vec<String> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.options.network_mode == un.name || c.endpoint_on(&un.name).is_some())
        .map(|c| c.name)
        .collect();
    if !users.is_empty() {
        return Err(EngineError::forbidden(format!(
            "error while removing network: network {} id {} has active endpoints ({})",
            un.name,
            un.id,
            users.join(", ")
        )));
    }
    d.net.user.remove(&un.id)?;
    let (d2, un2) = (d.clone(), un.clone());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = d2.net.reconcile(&d2, None) {
            tracing::warn!("network rules after removing {}: {e}", un2.name);
        }
        let _ = berth_net::Bridge::remove(&un2.bridge);
    })
    .await?;
    d.events.emit("network", "destroy", &un.id, attrs(un));
    Ok(())
}

/// `docker network rm` by name, id or id prefix.
pub async fn remove_by_key(d: &Arc<Daemon>, key: &str) -> Result<(), EngineError> {
    if BUILTIN.contains(&key) {
        return Err(EngineError::forbidden(format!("{key} is a pre-defined network and cannot be removed")));
    }
    let un = d.net.user.get(key).ok_or_else(|| EngineError::not_found(format!("network {key} not found")))?;
    remove(d, &un).await
}

/// Removes every user network nobody uses; the names of those removed.
pub async fn prune(d: &Arc<Daemon>) -> Vec<String> {
    let mut deleted = Vec::new();
    for un in d.net.user.all() {
        if remove(d, &un).await.is_ok() {
            deleted.push(un.name);
        }
    }
    deleted
}
