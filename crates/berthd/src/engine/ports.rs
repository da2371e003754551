//! Published ports as a container asks for them: `HostConfig.PortBindings` and `-P`.

use crate::engine::network::NetError;
use crate::model::Container;
use berth_net::{PortMapping, Proto};
use std::net::IpAddr;

/// A port the container asks for; `range` is a host port range (`-p 8000-8010:80`) to pick from.
#[derive(Debug, Clone, PartialEq)]
pub struct WantedPort {
    pub map: PortMapping,
    pub range: Option<(u16, u16)>,
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}` plus `-P` for exposed ports.
pub fn port_mappings(c: &Container) -> Result<Vec<WantedPort>, NetError> {
    let mut out = Vec::new();
    let bindings = c.host_config.port_bindings.clone().unwrap_or(serde_json::Value::Null);
    let mut seen = std::collections::BTreeSet::new();
    if let Some(m) = bindings.as_object() {
        for (key, list) in m {
            let (port, proto) = parse_port_key(key)?;
            seen.insert((port, proto));
            let list = list.as_array().cloned().unwrap_or_default();
            let list = if list.is_empty() { vec![serde_json::json!({})] } else { list };
            for b in list {
                let host_ip = host_ip(b["HostIp"].as_str().unwrap_or(""))?;
                let (host_port, range) = parse_host_port(b["HostPort"].as_str().unwrap_or(""))?;
                out.push(WantedPort { map: PortMapping { host_ip, host_port, container_port: port, proto }, range });
            }
        }
    }
    if c.host_config.publish_all_ports.unwrap_or(false) {
        for key in c.config.exposed_ports.clone().unwrap_or_default().keys() {
            let (port, proto) = parse_port_key(key)?;
            if seen.insert((port, proto)) {
                out.push(WantedPort {
                    map: PortMapping { host_ip: None, host_port: 0, container_port: port, proto },
                    range: None,
                });
            }
        }
    }
    Ok(out)
}

/// `""` (any free port), `"8080"`, or a range `"8000-8010"` (the first free port in it).
fn parse_host_port(hp: &str) -> Result<(u16, Option<(u16, u16)>), NetError> {
    let bad = || NetError::Invalid(format!("invalid hostPort: {hp}"));
    if hp.is_empty() {
        return Ok((0, None));
    }
    match hp.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?);
            if a == 0 || b < a {
                return Err(bad());
            }
            Ok((0, Some((a, b))))
        }
        None => Ok((hp.parse::<u16>().map_err(|_| bad())?, None)),
    }
}

fn parse_port_key(key: &str) -> Result<(u16, Proto), NetError> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(NetError::Invalid(format!("invalid proto: {other}"))),
    };
    let port = p.parse::<u16>().map_err(|_| NetError::Invalid(format!("invalid containerPort: {p}")))?;
    Ok((port, proto))
}

/// A binding's `HostIp`: none for every address (`""`, `0.0.0.0`, `::`), else the address.
/// IPv6 loopback is refused: the kernel never routes `::1` out of the host, so only a userland
/// proxy (which Berth does not run) could serve it.
fn host_ip(ip: &str) -> Result<Option<IpAddr>, NetError> {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.is_empty() {
        return Ok(None);
    }
    let addr: IpAddr = ip.parse().map_err(|_| NetError::Invalid(format!("invalid IP address: {ip}")))?;
    if addr.is_unspecified() {
        return Ok(None);
    }
    if addr == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) {
        return Err(NetError::Invalid(
            "publishing a port on ::1 needs a userland proxy, which Berth does not run: publish on 127.0.0.1 or ::"
                .into(),
        ));
    }
    Ok(Some(addr))
}

/// Docker's message for a taken host port, `[::]`-style for IPv6.
pub fn port_taken(ip: Option<IpAddr>, port: &str) -> String {
    match ip {
        Some(IpAddr::V6(a)) => format!("Bind for [{a}]:{port} failed: port is already allocated"),
        Some(IpAddr::V4(a)) => format!("Bind for {a}:{port} failed: port is already allocated"),
        None => format!("Bind for 0.0.0.0:{port} failed: port is already allocated"),
    }
}
