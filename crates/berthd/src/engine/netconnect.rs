//! `docker network connect` / `disconnect`: a container joins or leaves a network after create,
//! running or not. A running container gets (or loses) an `eth<n>` at once; a stopped one gets it
//! at its next start. Order is chosen for crash safety: the address is reserved before it is
//! recorded (a restore frees reserved-but-unrecorded addresses), and the record is written before
//! the veth is made (a restore re-attaches every recorded endpoint of a running container).

use crate::engine::daemon::Daemon;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::model::Container;
use crate::model::NetEndpoint;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The network a request names, as the daemon knows it.
pub struct Target {
    pub name: String,
    pub id: String,
    pub user: Option<crate::engine::usernets::UserNet>,
}

impl Target {
    /// A built-in network by name, or a user-defined one by name, id or id prefix.
    pub fn resolve(d: &Daemon, key: &str) -> Result<Target, EngineError> {
        use crate::engine::networks::{builtin_id, BUILTIN};
        if BUILTIN.contains(&key) {
            return Ok(Target { name: key.to_string(), id: builtin_id(key), user: None });
        }
        let un = d.net.user.get(key).ok_or_else(|| EngineError::not_found(format!("network {key} not found")))?;
        Ok(Target { name: un.name.clone(), id: un.id.clone(), user: Some(un) })
    }
}

/// Checks Docker makes before touching anything: networks a container cannot join or leave.
fn check_mode(c: &Container, target: &str) -> Result<(), EngineError> {
    let mode = c.options.network_mode.as_str();
    let forbidden = |m: &str| Err(EngineError::forbidden(m.to_string()));
    if mode == "host" || target == "host" {
        return forbidden("container cannot be disconnected from host network or connected to host network");
    }
    if mode == "none" || target == "none" {
        return forbidden(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode",
        );
    }
    if mode.starts_with("container:") {
        return forbidden("container sharing network namespace with another container or host cannot be connected to any other network");
    }
    Ok(())
}

fn running_netns(d: &Daemon, c: &Container) -> Option<std::path::PathBuf> {
    let ns = d.net.netns_path(&c.id);
    (c.state.status.is_live() && ns.exists()).then_some(ns)
}

pub async fn connect(
    d: &Arc<Daemon>,
    e: &Arc<Entry>,
    net: Target,
    req: crate::engine::network::EndpointRequest,
) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    let c = e.snapshot();
    check_mode(&c, &net.name)?;
    if net.user.is_none() {
        check_default_bridge(&req)?;
    }
    if c.endpoint_on(&net.name).is_some() {
        return Err(EngineError::forbidden(format!(
            "endpoint with name {} already exists in network {}",
            c.name, net.name
        )));
    }
    let used: Vec<u8> = c.endpoints().map(|ep| ep.iface).collect();
    let iface = (0..=u8::MAX).find(|i| !used.contains(i)).ok_or_else(|| EngineError::invalid("too many networks"))?;
    crate::engine::links::only_on_user_networks(net.user.is_some(), &req.links)?;
    let (d2, id2, user) = (d.clone(), c.id.clone(), net.user.clone());
    let alloc = move || match user {
        Some(n) => d2.net.allocate_on(&id2, &n, req),
        None => d2.net.allocate(&d2, &id2, req),
    };
    let mut ep = tokio::task::spawn_blocking(alloc).await?.map_err(|err| {
        d.net.settled(&c.id);
        EngineError::internal(format!("allocating a network address: {err}"))
    })?;
    ep.iface = iface;
    let recorded = e.update(|x| match x.endpoint {
        None => x.endpoint = Some(ep.clone()),
        Some(_) => x.extra_endpoints.push(ep.clone()),
    });
    d.net.settled(&c.id);
    if let Err(err) = recorded {
        d.net.release(&c.id, &ep);
        return Err(err.into());
    }
    if let Some(ns) = running_netns(d, &c) {
        let (d2, id2, ep2) = (d.clone(), c.id.clone(), ep.clone());
        let attached = tokio::task::spawn_blocking(move || d2.net.connect(&d2, &id2, &ep2, &ns)).await?;
        if let Err(err) = attached {
            forget_endpoint(e, iface)?;
            d.net.release(&c.id, &ep);
            return Err(EngineError::internal(format!("attaching to network {}: {err}", net.name)));
        }
    }
    emit(d, &net, &c.id, "connect");
    Ok(())
}

pub async fn disconnect(d: &Arc<Daemon>, e: &Arc<Entry>, net: Target) -> Result<(), EngineError> {
    let _op = e.op.lock().await;
    let c = e.snapshot();
    check_mode(&c, &net.name)?;
    let Some(ep) = c.endpoint_on(&net.name).cloned() else {
        return Err(EngineError::forbidden(format!("container {} is not connected to network {}", c.id, net.name)));
    };
    let running = running_netns(d, &c).is_some();
    if running {
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || berth_net::detach_iface(&id, ep.iface))
            .await?
            .map_err(|err| EngineError::internal(format!("removing the interface: {err}")))?;
    }
    forget_endpoint(e, ep.iface)?;
    d.net.release(&c.id, &ep);
    let (d2, ep2, id2) = (d.clone(), ep.clone(), c.id.clone());
    tokio::task::spawn_blocking(move || {
        if !ep2.ports.is_empty() {
            if let Err(err) = d2.net.reconcile(&d2, None) {
                tracing::warn!("network rules: {err}");
            }
        }
        d2.net.refresh_hosts(&d2, &ep2.network);
        // Its own files too: it no longer resolves the peers it left (no longer a member, the
        // rewrite above passed it by).
        if running {
            d2.net.refresh_hosts_of(&d2, &id2);
        }
    })
    .await?;
    emit(d, &net, &c.id, "disconnect");
    Ok(())
}

/// Drops the endpoint on `eth<iface>` from the record; the first remaining one becomes primary.
fn forget_endpoint(e: &Entry, iface: u8) -> std::io::Result<()> {
    e.update(|x| {
        let mut all: Vec<NetEndpoint> = x.endpoints().filter(|ep| ep.iface != iface).cloned().collect();
        x.endpoint = (!all.is_empty()).then(|| all.remove(0));
        x.extra_endpoints = all;
    })
}

fn emit(d: &Daemon, net: &Target, container: &str, action: &str) {
    let mut attrs = BTreeMap::new();
    attrs.insert("container".to_string(), container.to_string());
    attrs.insert("name".to_string(), net.name.clone());
    attrs.insert("type".to_string(), "bridge".to_string());
    d.events.emit("network", action, &net.id, attrs);
}

/// What dockerd refuses on the default bridge (and on `host`/`none`): a chosen address and
/// aliases, which only user-defined networks have.
pub fn check_default_bridge(req: &crate::engine::network::EndpointRequest) -> Result<(), EngineError> {
    if req.ipv4.is_some() || req.ipv6.is_some() {
        return Err(EngineError::invalid("user specified IP address is supported on user defined networks only"));
    }
    if !req.aliases.is_empty() {
        return Err(EngineError::invalid(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    Ok(())
}
