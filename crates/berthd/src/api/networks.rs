//! `/networks`: the built-in networks (`bridge`, `host`, `none`) as Docker shows them. The
//! bridge lists its containers, and which of them still use a previous `--bip` range.

use super::body::parse_filters;
use super::{ApiError, AppState};
use crate::engine::daemon::Daemon;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Built-in networks get stable ids derived from their names.
pub(crate) fn net_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("berth-network-{name}")))
}

fn network(d: &Daemon, name: &str) -> Option<Value> {
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
            (
                "bridge",
                json!({"Driver": "default", "Options": null, "Config": [{"Subnet": subnet.to_string(), "Gateway": gw.to_string()}]}),
                json!({"com.docker.network.bridge.name": cfg.bridge, "com.docker.network.bridge.default_bridge": "true",
                       "com.docker.network.bridge.enable_ip_masquerade": "true"}),
            )
        }
        "host" => ("host", json!({"Driver": "default", "Options": null, "Config": []}), json!({})),
        "none" => ("null", json!({"Driver": "default", "Options": null, "Config": []}), json!({})),
        _ => {
            let un = d.net.user.get(name)?;
            return Some(user_network(d, &un));
        }
    };
    let current =
        crate::config::parse_cidr(&cfg.bip).and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok()).map(|n| n.trunc());
    let mut members = serde_json::Map::new();
    let mut old: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &containers {
        let (ip, mac) = match c.endpoint_on(name) {
            Some(ep) => {
                if Some(ep.subnet) != current {
                    old.entry(ep.subnet.to_string()).or_default().push(c.id.clone());
                }
                (format!("{}/{}", ep.ip, ep.subnet.prefix_len()), ep.mac.clone())
            }
            None => (String::new(), String::new()),
        };
        members.insert(
            c.id.clone(),
            json!({"Name": c.name, "EndpointID": c.id, "MacAddress": mac, "IPv4Address": ip, "IPv6Address": ""}),
        );
    }
    let mut v = json!({
        "Name": name, "Id": net_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": driver,
        "EnableIPv4": true, "EnableIPv6": false, "IPAM": ipam, "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": members, "Options": options, "Labels": {},
    });
    if !old.is_empty() {
        // Berth's own: containers created under an earlier --bip keep their addresses.
        v["BerthPreviousRanges"] = json!(old);
    }
    Some(v)
}

const BUILTIN: &[&str] = &["bridge", "host", "none"];

fn user_network(d: &Daemon, un: &crate::engine::usernets::UserNet) -> Value {
    let mut members = serde_json::Map::new();
    for c in d.store.all().iter().map(|e| e.snapshot()).filter(|c| c.state.status.is_live()) {
        if let Some(ep) = c.endpoint_on(&un.name) {
            members.insert(
                c.id.clone(),
                json!({"Name": c.name, "EndpointID": c.id, "MacAddress": ep.mac,
                "IPv4Address": format!("{}/{}", ep.ip, ep.subnet.prefix_len()), "IPv6Address": ""}),
            );
        }
    }
    json!({
        "Name": un.name, "Id": un.id, "Created": un.created, "Scope": "local", "Driver": "bridge",
        "EnableIPv4": true, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": un.subnet.to_string(), "Gateway": un.gateway.to_string()}]},
        "Internal": un.internal, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": members, "Options": {"com.docker.network.bridge.name": un.bridge}, "Labels": un.labels,
    })
}

fn all_networks(d: &Daemon) -> Vec<Value> {
    let mut v: Vec<Value> = BUILTIN.iter().filter_map(|n| network(d, n)).collect();
    v.extend(d.net.user.all().iter().map(|un| user_network(d, un)));
    v
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Value>,
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

pub async fn create(
    State(d): State<AppState>,
    super::body::JsonBody(req): super::body::JsonBody<CreateRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if req.name.is_empty() {
        return Err(ApiError::bad_request("network name must not be empty"));
    }
    if BUILTIN.contains(&req.name.as_str()) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("{} is a pre-defined network and cannot be created", req.name),
        ));
    }
    if let Some(drv) = req.driver.as_deref().filter(|d| !d.is_empty() && *d != "bridge") {
        return Err(ApiError::bad_request(format!(
            "could not find plugin {drv} in v1 plugin registry: plugin not found"
        )));
    }
    let cfg0 = req.ipam.as_ref().and_then(|i| i["Config"].as_array().and_then(|a| a.first().cloned()));
    let subnet = match cfg0.as_ref().and_then(|c| c["Subnet"].as_str()).filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(s.parse::<berth_net::Ipv4Net>().map_err(|_| ApiError::bad_request(format!("invalid subnet {s}")))?)
        }
        None => None,
    };
    let gateway = match cfg0.as_ref().and_then(|c| c["Gateway"].as_str()).filter(|s| !s.is_empty()) {
        Some(g) => Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gateway {g}")))?),
        None => None,
    };
    let cfg = d.config();
    let taken: Vec<berth_net::Ipv4Net> = crate::config::parse_cidr(&cfg.bip)
        .and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok())
        .map(|n| vec![n.trunc()])
        .unwrap_or_default();
    let un = d
        .net
        .user
        .create(
            &req.name,
            subnet,
            gateway,
            req.internal,
            req.labels.unwrap_or_default(),
            &taken,
            &cfg.default_address_pools,
        )
        .map_err(|m| if m.contains("already exists") { ApiError::conflict(m) } else { ApiError::bad_request(m) })?;
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("name".to_string(), un.name.clone());
    attrs.insert("type".to_string(), "bridge".to_string());
    d.events.emit("network", "create", &un.id, attrs);
    Ok((axum::http::StatusCode::CREATED, Json(json!({"Id": un.id, "Warning": ""}))).into_response())
}

/// Removes a user network nobody is attached to: its bridge, its pool and its rules.
async fn remove_one(d: &AppState, un: &crate::engine::usernets::UserNet) -> Result<(), ApiError> {
    let users: Vec<String> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.options.network_mode == un.name || c.endpoint_on(&un.name).is_some())
        .map(|c| c.name)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                un.name,
                un.id,
                users.join(", ")
            ),
        ));
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
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("name".to_string(), un.name.clone());
    attrs.insert("type".to_string(), "bridge".to_string());
    d.events.emit("network", "destroy", &un.id, attrs);
    Ok(())
}

pub async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> Result<axum::http::StatusCode, ApiError> {
    if BUILTIN.contains(&id.as_str()) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("{id} is a pre-defined network and cannot be removed"),
        ));
    }
    let un = d.net.user.get(&id).ok_or_else(|| ApiError::not_found(format!("network {id} not found")))?;
    remove_one(&d, &un).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

pub async fn prune(State(d): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut deleted = Vec::new();
    for un in d.net.user.all() {
        if remove_one(&d, &un).await.is_ok() {
            deleted.push(un.name);
        }
    }
    Ok(Json(json!({"NetworksDeleted": deleted})))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectRequest {
    pub container: String,
    #[serde(default)]
    pub endpoint_config: Option<Value>,
}

fn target(d: &Daemon, key: &str) -> Result<crate::engine::netconnect::Target, ApiError> {
    if BUILTIN.contains(&key) {
        return Ok(crate::engine::netconnect::Target { name: key.to_string(), id: net_id(key), user: None });
    }
    let un = d.net.user.get(key).ok_or_else(|| ApiError::not_found(format!("network {key} not found")))?;
    Ok(crate::engine::netconnect::Target { name: un.name.clone(), id: un.id.clone(), user: Some(un) })
}

pub async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    super::body::JsonBody(req): super::body::JsonBody<ConnectRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let net = target(&d, &id)?;
    let e = d.store.get(&req.container)?;
    let aliases = req
        .endpoint_config
        .as_ref()
        .and_then(|c| c["Aliases"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    crate::engine::netconnect::connect(&d, &e, net, aliases).await?;
    Ok(axum::http::StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    super::body::JsonBody(req): super::body::JsonBody<ConnectRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let net = target(&d, &id)?;
    let e = d.store.get(&req.container)?;
    crate::engine::netconnect::disconnect(&d, &e, net).await?;
    Ok(axum::http::StatusCode::OK)
}

pub async fn list(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let mut out = Vec::new();
    for n in all_networks(&d) {
        let name = n["Name"].as_str().unwrap_or("").to_string();
        let builtin = BUILTIN.contains(&name.as_str());
        let keep = filters.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "name" => name.contains(v.as_str()),
                "id" => n["Id"].as_str().is_some_and(|i| i.starts_with(v.as_str())),
                "driver" => n["Driver"] == *v,
                "type" => (v == "builtin") == builtin,
                "scope" => v == "local",
                _ => false,
            })
        });
        if keep {
            out.push(n);
        }
    }
    Ok(Json(out))
}

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    all_networks(&d)
        .into_iter()
        .find(|n| {
            n["Name"] == id.as_str() || n["Id"].as_str().is_some_and(|i| !id.is_empty() && i.starts_with(id.as_str()))
        })
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("network {id} not found")))
}
