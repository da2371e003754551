//! `/networks`: the built-in networks (`bridge`, `host`, `none`) as Docker shows them. The
//! bridge lists its containers, and which of them still use a previous `--bip` range.

use super::body::parse_filters;
use super::{ApiError, AppState};
use crate::daemon::Daemon;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Built-in networks get stable ids derived from their names.
fn net_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("berth-network-{name}")))
}

fn network(d: &Daemon, name: &str) -> Option<Value> {
    let cfg = d.config();
    let containers: Vec<crate::state::Container> = d
        .store
        .all()
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.state.status.is_live() && c.options.network_mode == name)
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
        _ => return None,
    };
    let current = crate::config::parse_cidr(&cfg.bip).and_then(|(g, l)| berth_net::Ipv4Net::new(g, l).ok()).map(|n| n.trunc());
    let mut members = serde_json::Map::new();
    let mut old: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &containers {
        let (ip, mac) = match &c.endpoint {
            Some(ep) => {
                if Some(ep.subnet) != current {
                    old.entry(ep.subnet.to_string()).or_default().push(c.id.clone());
                }
                (format!("{}/{}", ep.ip, ep.subnet.prefix_len()), ep.mac.clone())
            }
            None => (String::new(), String::new()),
        };
        members.insert(c.id.clone(), json!({"Name": c.name, "EndpointID": c.id, "MacAddress": mac, "IPv4Address": ip, "IPv6Address": ""}));
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

pub async fn list(State(d): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Json<Vec<Value>>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let mut out = Vec::new();
    for name in BUILTIN {
        let Some(n) = network(&d, name) else { continue };
        let keep = filters.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "name" => name.contains(v.as_str()),
                "id" => n["Id"].as_str().is_some_and(|i| i.starts_with(v.as_str())),
                "driver" => n["Driver"] == *v,
                "type" => v == "builtin",
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
    BUILTIN
        .iter()
        .filter_map(|n| network(&d, n))
        .find(|n| n["Name"] == id.as_str() || n["Id"].as_str().is_some_and(|i| !id.is_empty() && i.starts_with(id.as_str())))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("network {id} not found")))
}
