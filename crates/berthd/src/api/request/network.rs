//! `POST /networks/create` and `/networks/{id}/connect`: berth-api's bodies into the engine's
//! calls. Berth's networks are local IPv4 bridges with one subnet: the options of other drivers,
//! of swarm and of IPv6 are refused by name.

use super::unsupported;
use crate::api::error::ApiError;
use crate::engine::network::EndpointRequest;
use crate::engine::usernets::NetworkSpec;
use berth_api as wire;

pub fn spec(req: wire::NetworkCreateRequest) -> Result<NetworkSpec, ApiError> {
    if let Some(drv) = req.driver.as_deref().filter(|d| !d.is_empty() && *d != "bridge") {
        return Err(ApiError::bad_request(format!(
            "could not find plugin {drv} in v1 plugin registry: plugin not found"
        )));
    }
    unsupported::refuse_network(&req)?;
    let first = req.ipam.as_ref().and_then(|i| i.config.as_ref()).and_then(|a| a.first());
    let subnet = match first.and_then(|c| c.subnet.as_deref()).filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(s.parse::<berth_net::Ipv4Net>().map_err(|_| ApiError::bad_request(format!("invalid subnet {s}")))?)
        }
        None => None,
    };
    let gateway = match first.and_then(|c| c.gateway.as_deref()).filter(|s| !s.is_empty()) {
        Some(g) => Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gateway {g}")))?),
        None => None,
    };
    let ip_range = match first.and_then(|c| c.ip_range.as_deref()).filter(|s| !s.is_empty()) {
        Some(r) => Some(r.parse().map_err(|_| ApiError::bad_request(format!("invalid IPRange {r}")))?),
        None => None,
    };
    let mut aux_addresses = std::collections::BTreeMap::new();
    for (k, a) in first.and_then(|c| c.auxiliary_addresses.clone()).unwrap_or_default() {
        let ip = a.parse().map_err(|_| ApiError::bad_request(format!("invalid auxiliary address {k}={a}")))?;
        aux_addresses.insert(k, ip);
    }
    Ok(NetworkSpec {
        name: req.name,
        subnet,
        gateway,
        internal: req.internal.unwrap_or(false),
        labels: req.labels.unwrap_or_default(),
        ip_range,
        aux_addresses,
    })
}

/// What a connect asks of its endpoint; what Berth does not implement is refused.
pub fn endpoint(network: &str, ep: Option<wire::EndpointSettings>) -> Result<EndpointRequest, ApiError> {
    let ep = ep.unwrap_or_default();
    unsupported::refuse_endpoint(network, &ep)?;
    endpoint_request(ep)
}

/// One endpoint's request, its refusals already checked (a create checks them with the rest).
pub fn endpoint_request(ep: wire::EndpointSettings) -> Result<EndpointRequest, ApiError> {
    let mut link_local = Vec::new();
    for a in ep.ipam_config.as_ref().and_then(|c| c.link_local_ips.clone()).unwrap_or_default() {
        match a.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if ip.is_link_local() => link_local.push(ip),
            // IPv6 link-local needs the IPv6 Berth lacks; anything else is not link-local at all.
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid link-local IP address: {a} (an IPv4 address in 169.254.0.0/16)"
                )))
            }
        }
    }
    let ipv4 = match ep.ipam_config.and_then(|c| c.ipv4_address).filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {a}")))?),
        None => None,
    };
    Ok(EndpointRequest {
        aliases: ep.aliases.unwrap_or_default(),
        ipv4,
        driver_opts: ep.driver_opts.unwrap_or_default(),
        links: ep.links.unwrap_or_default(),
        mac: mac(&ep.mac_address)?,
        link_local,
    })
}

/// A `MacAddress` as given ("" is none), or dockerd's 400 for one the kernel would not take.
pub(super) fn mac(given: &str) -> Result<Option<String>, ApiError> {
    if given.is_empty() {
        return Ok(None);
    }
    berth_net::parse_mac(given).map(Some).ok_or_else(|| ApiError::bad_request(format!("invalid MAC address: {given}")))
}
