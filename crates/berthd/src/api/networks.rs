//! `/networks`: the built-in networks (`bridge`, `host`, `none`) as Docker shows them. The
//! bridge lists its containers, and which of them still use a previous `--bip` range.

use super::body::parse_filters;
use super::{ApiError, AppState};
use crate::engine::daemon::Daemon;
use crate::engine::networks::{self, BUILTIN};
use axum::extract::{Path, Query, State};
use axum::Json;
use berth_api::{
    Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};
use std::collections::{BTreeMap, HashMap};

pub(crate) use crate::engine::networks::builtin_id as net_id;

fn ipam(options: Option<BTreeMap<String, String>>, config: Vec<IpamConfig>) -> Ipam {
    Ipam { driver: "default".into(), options, config: Some(config) }
}

fn ipam_config(subnet: String, gateway: String) -> IpamConfig {
    IpamConfig { subnet: Some(subnet), gateway: Some(gateway), ..Default::default() }
}

fn member(c: &crate::model::Container, ep: Option<&crate::model::NetEndpoint>) -> NetworkContainer {
    let v6 = ep.and_then(|ep| ep.v6.as_ref());
    NetworkContainer {
        name: c.name.clone(),
        endpoint_id: c.id.clone(),
        mac_address: ep.map(|ep| ep.mac.clone()).unwrap_or_default(),
        ipv4_address: ep.map(|ep| format!("{}/{}", ep.ip, ep.subnet.prefix_len())).unwrap_or_default(),
        ipv6_address: v6.map(|v| format!("{}/{}", v.ip, v.subnet.prefix_len())).unwrap_or_default(),
    }
}

fn v6_pool(n: &crate::engine::usernets::Net6) -> IpamConfig {
    IpamConfig {
        ip_range: n.ip_range.map(|r| r.to_string()),
        ..ipam_config(n.subnet.to_string(), n.gateway.to_string())
    }
}

/// What every network Berth has shares: a local bridge-like network, not swarm-scoped.
fn base(name: &str, id: String, created: String, driver: &str, ipam: Ipam) -> Network {
    Network {
        name: name.to_string(),
        id,
        created,
        scope: "local".into(),
        driver: driver.into(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam,
        ..Default::default()
    }
}

fn network(d: &Daemon, name: &str) -> Option<Network> {
    let cfg = d.config();
    let containers: Vec<crate::model::Container> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.state.status.is_live() && (c.options.network_mode == name || c.endpoint_on(name).is_some()))
        .collect();
    let (driver, ipam, options) = match name {
        "bridge" => {
            let (gw, len) = crate::config::parse_cidr(&cfg.bip)?;
            let subnet = berth_net::Ipv4Net::new(gw, len).ok()?.trunc();
            let options = [
                ("com.docker.network.bridge.name", cfg.bridge.as_str()),
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ];
            let six = crate::engine::network::bridge_v6(&cfg);
            (
                "bridge",
                ipam(
                    None,
                    std::iter::once(ipam_config(subnet.to_string(), gw.to_string()))
                        .chain(six.as_ref().map(v6_pool))
                        .collect(),
                ),
                options.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            )
        }
        "host" => ("host", ipam(None, vec![]), BTreeMap::new()),
        "none" => ("null", ipam(None, vec![]), BTreeMap::new()),
        _ => {
            let un = d.net.user.get(name)?;
            return Some(user_network(d, &un));
        }
    };
    let current =
        crate::config::parse_cidr(&cfg.bip).and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok()).map(|n| n.trunc());
    let mut members = BTreeMap::new();
    let mut old: BTreeMap<String, Vec<String>> = Default::default();
    for c in &containers {
        let ep = c.endpoint_on(name);
        if let Some(ep) = ep.filter(|ep| Some(ep.subnet) != current) {
            old.entry(ep.subnet.to_string()).or_default().push(c.id.clone());
        }
        members.insert(c.id.clone(), member(c, ep));
    }
    Some(Network {
        enable_ipv6: name == "bridge" && crate::engine::network::bridge_v6(&cfg).is_some(),
        containers: members,
        options,
        // Berth's own: containers created under an earlier --bip keep their addresses.
        berth_previous_ranges: (!old.is_empty()).then_some(old),
        ..base(name, net_id(name), "0001-01-01T00:00:00Z".into(), driver, ipam)
    })
}

fn user_network(d: &Daemon, un: &crate::engine::usernets::UserNet) -> Network {
    let mut members = BTreeMap::new();
    for c in d.store.all().iter().map(|e| e.snapshot()).filter(|c| c.state.status.is_live()) {
        if let Some(ep) = c.endpoint_on(&un.name) {
            members.insert(c.id.clone(), member(&c, Some(ep)));
        }
    }
    let mut pool = ipam_config(un.subnet.to_string(), un.gateway.to_string());
    pool.ip_range = un.ip_range.map(|r| r.to_string());
    pool.auxiliary_addresses = (!un.aux_addresses.is_empty())
        .then(|| un.aux_addresses.iter().map(|(k, a)| (k.clone(), a.to_string())).collect());
    // dockerd shows null for IPAM options nobody gave (docker-py asserts it).
    let ipam = ipam(None, std::iter::once(pool).chain(un.v6.as_ref().map(v6_pool)).collect());
    Network {
        enable_ipv6: un.v6.is_some(),
        internal: un.internal,
        containers: members,
        // What was asked for, as dockerd shows it: Berth takes no driver options yet (they are
        // refused by name), so none. Naming the bridge here made docker-compose see a changed
        // option and refuse every second `up` ("needs to be recreated").
        options: BTreeMap::new(),
        labels: un.labels.clone(),
        ..base(&un.name, un.id.clone(), un.created.clone(), "bridge", ipam)
    }
}

fn all_networks(d: &Daemon) -> Vec<Network> {
    let mut v: Vec<Network> = BUILTIN.iter().filter_map(|n| network(d, n)).collect();
    v.extend(d.net.user.all().iter().map(|un| user_network(d, un)));
    v
}

pub async fn create(
    State(d): State<AppState>,
    super::body::JsonBody(req): super::body::JsonBody<NetworkCreateRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let spec = super::request::network::spec(req)?;
    let un = networks::create(&d, spec)?;
    Ok((axum::http::StatusCode::CREATED, Json(NetworkCreateResponse { id: un.id, warning: String::new() }))
        .into_response())
}

pub async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> Result<axum::http::StatusCode, ApiError> {
    networks::remove_by_key(&d, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

pub async fn prune(State(d): State<AppState>) -> Result<Json<NetworkPruneResponse>, ApiError> {
    let deleted = networks::prune(&d).await;
    // dockerd's list starts nil: `null` when nothing was deleted.
    Ok(Json(NetworkPruneResponse { networks_deleted: (!deleted.is_empty()).then_some(deleted) }))
}

pub async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    super::body::JsonBody(req): super::body::JsonBody<NetworkConnectRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let net = crate::engine::netconnect::Target::resolve(&d, &id)?;
    let e = d.store.get(&req.container)?;
    let ep = super::request::network::endpoint(&net.name, req.endpoint_config)?;
    crate::engine::netconnect::connect(&d, &e, net, ep).await?;
    Ok(axum::http::StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    super::body::JsonBody(req): super::body::JsonBody<NetworkDisconnectRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let net = crate::engine::netconnect::Target::resolve(&d, &id)?;
    let e = d.store.get(&req.container)?;
    crate::engine::netconnect::disconnect(&d, &e, net).await?;
    Ok(axum::http::StatusCode::OK)
}

pub async fn list(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Network>>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    if let Some(k) =
        filters.keys().find(|k| !["name", "id", "driver", "type", "scope", "label", "dangling"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let containers: Vec<_> = match filters.contains_key("dangling") {
        true => d.store.all().iter().map(|e| e.snapshot()).collect(),
        false => Vec::new(),
    };
    let names = crate::engine::filters::NamePatterns::new(filters.get("name"));
    let mut out = Vec::new();
    for n in all_networks(&d) {
        let builtin = BUILTIN.contains(&n.name.as_str());
        // As dockerd: the predefined networks are never dangling.
        let dangling = || !builtin && !containers.iter().any(|c| c.endpoint_on(&n.name).is_some());
        let keep = filters.iter().all(|(k, vals)| {
            if k == "label" {
                return crate::engine::filters::labels_match(|k| n.labels.get(k).map(String::as_str), vals);
            }
            if k == "name" {
                return names.any_matches(&n.name);
            }
            vals.iter().any(|v| match k.as_str() {
                "id" => n.id.starts_with(v.as_str()),
                "driver" => n.driver == *v,
                "type" => (v == "builtin") == builtin,
                "scope" => v == "local",
                "dangling" => (v == "true" || v == "1") == dangling(),
                _ => false,
            })
        });
        if keep {
            out.push(n);
        }
    }
    Ok(Json(out))
}

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Json<Network>, ApiError> {
    all_networks(&d)
        .into_iter()
        .find(|n| n.name == id || (!id.is_empty() && n.id.starts_with(id.as_str())))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("network {id} not found")))
}
