//! `--link`: on the default bridge, Docker's legacy links (the linked container's address, ports
//! and environment as variables, its names in /etc/hosts); on a user-defined network, names that
//! only this container knows its peers by (`name:alias`, endpoint `Links`), in its /etc/hosts.

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::Container;
use std::net::Ipv4Addr;

/// One `name[:alias]`; the alias defaults to the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub name: String,
    pub alias: String,
}

pub fn parse(spec: &str) -> Result<Link, EngineError> {
    let (name, alias) = spec.split_once(':').unwrap_or((spec, spec));
    let (name, alias) = (name.trim_start_matches('/'), alias.trim_start_matches('/'));
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() || alias.contains(':') {
        return Err(EngineError::invalid(format!("invalid link: {spec:?} (want name or name:alias)")));
    }
    Ok(Link { name: name.into(), alias: alias.into() })
}

fn parse_all(specs: Option<&[String]>) -> Result<Vec<Link>, EngineError> {
    specs.unwrap_or_default().iter().map(|s| parse(s)).collect()
}

/// Legacy links belong to the default bridge (`bridge` or a mode that defaults to it).
pub fn legacy(c: &Container) -> bool {
    c.options.network_mode == "bridge"
}

/// Endpoint links are names on a user-defined network; elsewhere they are refused, as dockerd.
pub fn only_on_user_networks(user_network: bool, links: &[String]) -> Result<(), EngineError> {
    if !links.is_empty() && !user_network {
        return Err(EngineError::invalid("links are only supported for user-defined networks"));
    }
    links.iter().try_for_each(|l| parse(l).map(drop))
}

/// At create: every link parses; a legacy link names an existing container that does not use
/// the host's network (dockerd's registerLinks).
pub fn check_create(d: &Daemon, links: Option<&[String]>, network_mode: &str) -> Result<(), EngineError> {
    let links = parse_all(links)?;
    if links.is_empty() {
        return Ok(());
    }
    if network_mode == "host" {
        return Err(EngineError::invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior"));
    }
    if network_mode == "none" || network_mode.starts_with("container:") {
        return Err(EngineError::invalid(format!(
            "conflicting options: links need a network, not network mode {network_mode}"
        )));
    }
    if network_mode != "bridge" {
        return Ok(());
    }
    for l in links {
        // 400, not 404, as dockerd (moby#39823): a 404 makes the CLI report a missing image.
        let child = d
            .store
            .get(&l.name)
            .map_err(|e| EngineError::invalid(format!("could not get container for {}: {e}", l.name)))?
            .snapshot();
        if child.options.network_mode == "host" {
            return Err(EngineError::invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior"));
        }
    }
    Ok(())
}

/// A legacy link's child, running and on the default bridge, with its address there.
fn child_of(d: &Daemon, c: &Container, l: &Link) -> Result<(Container, Ipv4Addr), EngineError> {
    let label = format!("/{} AS /{}/{}", l.name, c.name, l.alias);
    let child = d
        .store
        .get(&l.name)
        .map_err(|_| EngineError::not_found(format!("could not get container for {}", l.name)))?
        .snapshot();
    if !child.state.status.is_live() {
        return Err(EngineError::conflict(format!("Cannot link to a non running container: {label}")));
    }
    let ip = child.endpoint_on("bridge").map(|ep| ep.ip).ok_or_else(|| {
        EngineError::invalid(format!("Cannot link to /{}, as it does not belong to the default network", child.name))
    })?;
    Ok((child, ip))
}

/// The variables a legacy link gives the container's process (dockerd's Link.ToEnv): the child's
/// first port as `<ALIAS>_PORT`, each port's address parts, its link name, and its environment.
pub fn env(d: &Daemon, c: &Container) -> Result<Vec<String>, EngineError> {
    if !legacy(c) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for l in parse_all(c.host_config.links.as_deref())? {
        let (child, ip) = child_of(d, c, &l)?;
        let prefix = l.alias.to_uppercase().replace('-', "_");
        let mut ports: Vec<(u16, String)> = child
            .config
            .exposed_ports
            .iter()
            .flatten()
            .filter_map(|(k, _)| {
                let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                Some((port.parse().ok()?, proto.to_string()))
            })
            .collect();
        ports.sort();
        if let Some((port, proto)) = ports.first() {
            out.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
        }
        for (port, proto) in &ports {
            let p = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
            out.push(format!("{p}={proto}://{ip}:{port}"));
            out.push(format!("{p}_ADDR={ip}"));
            out.push(format!("{p}_PORT={port}"));
            out.push(format!("{p}_PROTO={proto}"));
        }
        out.push(format!("{prefix}_NAME=/{}/{}", c.name, l.alias));
        for kv in child.config.env.iter().flatten() {
            let Some((k, v)) = kv.split_once('=') else { continue };
            // Set by every image; not the linked container's own.
            if k != "HOME" && k != "PATH" {
                out.push(format!("{prefix}_ENV_{k}={v}"));
            }
        }
    }
    Ok(out)
}

/// The /etc/hosts lines links give `c`, from the containers that run (`live`): a legacy link's
/// child by alias, hostname and name; a user-network link's peer by its alias there.
pub fn hosts_entries(c: &Container, live: &[Container]) -> Vec<berth_net::HostsEntry> {
    let find = |name: &str| live.iter().find(|p| p.name == name || (name.len() >= 12 && p.id.starts_with(name)));
    let mut out = Vec::new();
    let host_links = parse_all(c.host_config.links.as_deref()).unwrap_or_default();
    if legacy(c) {
        for l in &host_links {
            let Some(child) = find(&l.name) else { continue };
            let Some(ep) = child.endpoint_on("bridge") else { continue };
            let mut names = vec![l.alias.clone()];
            names.extend(child.config.hostname.clone());
            if l.alias != child.name {
                names.push(child.name.clone());
            }
            out.push(berth_net::HostsEntry::new(ep.ip, names));
        }
    }
    for (alias, ep, _) in on_user_networks(c, live) {
        out.push(berth_net::HostsEntry::new(ep.ip, [alias]));
    }
    out
}

/// The aliases `c`'s links give it on its user networks (endpoint `Links`, and `HostConfig.Links`
/// on the network it was created on), with the endpoint and the id of the running peer each names.
pub fn on_user_networks(c: &Container, live: &[Container]) -> Vec<(String, crate::model::NetEndpoint, String)> {
    let find = |name: &str| live.iter().find(|p| p.name == name || (name.len() >= 12 && p.id.starts_with(name)));
    let host_links = parse_all(c.host_config.links.as_deref()).unwrap_or_default();
    let mut out = Vec::new();
    for ep in c.endpoints().filter(|ep| ep.network != "bridge") {
        let own = parse_all(Some(&ep.links)).unwrap_or_default();
        // HostConfig.Links on a user-defined network apply to the network the container is in.
        let inherited = (ep.network == c.options.network_mode).then_some(&host_links).into_iter().flatten();
        for l in own.iter().chain(inherited) {
            if let Some((p, pep)) = find(&l.name).and_then(|p| Some((p, p.endpoint_on(&ep.network)?))) {
                out.push((l.alias.clone(), pep.clone(), p.id.clone()));
            }
        }
    }
    out
}

/// Inspect's `HostConfig.Links` (legacy links only, as dockerd lists its link graph):
/// `/child:/parent/alias`.
pub fn inspect_form(c: &Container) -> Option<Vec<String>> {
    if !legacy(c) {
        return None;
    }
    let links = parse_all(c.host_config.links.as_deref()).ok()?;
    (!links.is_empty()).then(|| links.iter().map(|l| format!("/{}:/{}/{}", l.name, c.name, l.alias)).collect())
}

/// `DELETE /containers/<parent>/<alias>?link=1`: the parent forgets the link (from its next
/// start on; a running process keeps the variables it was started with, as with dockerd).
pub fn remove(d: &Daemon, parent: &str, alias: &str) -> Result<(), EngineError> {
    let e = d.store.get(parent)?;
    let c = e.snapshot();
    let links = c.host_config.links.clone().unwrap_or_default();
    let kept: Vec<String> =
        links.iter().filter(|s| parse(s).map(|l| l.alias != alias).unwrap_or(true)).cloned().collect();
    if kept.len() == links.len() {
        return Err(EngineError::not_found(format!("Could not find container for entity id /{}/{alias}", c.name)));
    }
    e.update(|x| x.host_config.links = (!kept.is_empty()).then_some(kept))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_specs() {
        assert_eq!(parse("db").unwrap(), Link { name: "db".into(), alias: "db".into() });
        assert_eq!(parse("/db:/web/data").unwrap(), Link { name: "db".into(), alias: "data".into() });
        assert_eq!(parse("db:data").unwrap().alias, "data");
        assert!(parse(":x").is_err());
        assert!(parse("db:").is_err());
        assert!(only_on_user_networks(false, &["a:b".into()]).is_err());
        assert!(only_on_user_networks(true, &["a:b".into()]).is_ok());
        assert!(only_on_user_networks(false, &[]).is_ok());
    }
}
