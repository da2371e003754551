//! `POST /networks/create` and `/networks/{id}/connect`: berth-api's bodies into the engine's
//! calls. Berth's networks are local bridges with one IPv4 subnet and, with IPv6, one IPv6
//! subnet: the options of other drivers and of swarm are refused by name.

use super::unsupported;
use crate::api::error::ApiError;
use crate::engine::network::EndpointRequest;
use crate::engine::usernets::{NetworkSpec, Pool6};
use berth_api as wire;

pub fn spec(req: wire::NetworkCreateRequest) -> Result<NetworkSpec, ApiError> {
    if let Some(drv) = req.driver.as_deref().filter(|d| !d.is_empty() && *d != "bridge") {
        return Err(ApiError::bad_request(format!(
            "could not find plugin {drv} in v1 plugin registry: plugin not found"
        )));
    }
    unsupported::refuse_network(&req)?;
    let pools = req.ipam.as_ref().and_then(|i| i.config.clone()).unwrap_or_default();
    let (six, four): (Vec<_>, Vec<_>) = pools.into_iter().partition(is_v6_pool);
    let first = four.first();
    let subnet = parse("subnet", &first.and_then(|c| c.subnet.clone()))?;
    let gateway = parse("gateway", &first.and_then(|c| c.gateway.clone()))?;
    let ip_range = parse("IPRange", &first.and_then(|c| c.ip_range.clone()))?;
    let mut aux_addresses = std::collections::BTreeMap::new();
    for (k, a) in first.and_then(|c| c.auxiliary_addresses.clone()).unwrap_or_default() {
        let ip = a.parse().map_err(|_| ApiError::bad_request(format!("invalid auxiliary address {k}={a}")))?;
        aux_addresses.insert(k, ip);
    }
    let v6 = match (six.first(), req.enable_ipv6 == Some(true)) {
        (None, false) => None,
        (None, true) => Some(Pool6::default()),
        (Some(p), _) => {
            if p.auxiliary_addresses.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(ApiError::bad_request(
                    "IPAM.Config.AuxiliaryAddresses of an IPv6 pool is not supported by Berth",
                ));
            }
            Some(Pool6 {
                subnet: parse("IPv6 subnet", &p.subnet)?,
                gateway: parse("IPv6 gateway", &p.gateway)?,
                ip_range: parse("IPv6 IPRange", &p.ip_range)?,
            })
        }
    };
    Ok(NetworkSpec {
        name: req.name,
        subnet,
        gateway,
        internal: req.internal.unwrap_or(false),
        labels: req.labels.unwrap_or_default(),
        ip_range,
        aux_addresses,
        v6,
    })
}

/// A pool's field: absent or empty is none; anything else must parse.
fn parse<T: std::str::FromStr>(what: &str, v: &Option<String>) -> Result<Option<T>, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| ApiError::bad_request(format!("invalid {what} {s}"))))
        .transpose()
}

/// An `IPAM.Config` entry for IPv6: its subnet (else its gateway or range) is an IPv6 one.
pub(super) fn is_v6_pool(p: &wire::IpamConfig) -> bool {
    [&p.subnet, &p.gateway, &p.ip_range]
        .iter()
        .find_map(|v| v.as_deref().filter(|s| !s.is_empty()))
        .is_some_and(|s| s.contains(':'))
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
    let ipam = ep.ipam_config.unwrap_or_default();
    let ipv4 = match ipam.ipv4_address.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {a}")))?),
        None => None,
    };
    let ipv6 = match ipam.ipv6_address.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv6 address: {a}")))?),
        None => None,
    };
    Ok(EndpointRequest {
        aliases: ep.aliases.unwrap_or_default(),
        ipv4,
        ipv6,
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
