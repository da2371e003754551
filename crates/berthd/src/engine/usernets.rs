//! User-defined bridge networks: each gets its own bridge (`br-<id12>`), subnet and IPAM pool
//! (and an IPv6 subnet and pool when it has IPv6), persisted in
//! `<data-root>/network/networks.json`. Containers on one network find each other by
//! name through their /etc/hosts, which Berth rewrites in place as members come and go — a static
//! file, and through the embedded DNS each member's monitor serves (`engine::dns`), so names keep
//! resolving while the daemon is down (dockerd's embedded DNS does not).

use crate::engine::EngineError;
use berth_net::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserNet {
    pub id: String,
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created: String,
    /// `IPAM.Config[0].IPRange`: containers' addresses come from it (the gateway need not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// `IPAM.Config[0].AuxiliaryAddresses`: names for addresses no container gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// `EnableIPv6`: the network's IPv6 subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<Net6>,
}

/// The IPv6 half of a dual-stack network (`EnableIPv6`, or an IPv6 entry in `IPAM.Config`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Net6 {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv6Net>,
}

/// The IPv6 pool a network create asks for: all of it may be left to Berth.
#[derive(Debug, Clone, Default)]
pub struct Pool6 {
    pub subnet: Option<Ipv6Net>,
    pub gateway: Option<Ipv6Addr>,
    pub ip_range: Option<Ipv6Net>,
}

/// What `docker network create` asks for, checked by the API (unimplemented options refused).
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub ip_range: Option<Ipv4Net>,
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// IPv6 on: `EnableIPv6`, or an IPv6 pool given (dockerd 20.10 kept such a pool and ignored
    /// it; Berth gives what was asked for rather than accept it and drop it).
    pub v6: Option<Pool6>,
}

pub struct UserNets {
    file: PathBuf,
    nets: Mutex<Vec<UserNet>>,
}

impl UserNets {
    pub fn load(data_root: &Path) -> UserNets {
        let file = data_root.join("network").join("networks.json");
        let nets = berth_proto::fsutil::read_json::<Vec<UserNet>>(&file).ok().flatten().unwrap_or_default();
        UserNets { file, nets: Mutex::new(nets) }
    }

    pub fn all(&self) -> Vec<UserNet> {
        self.nets.lock().expect("nets lock").clone()
    }

    /// By name, full id or unique id prefix.
    pub fn get(&self, key: &str) -> Option<UserNet> {
        let nets = self.nets.lock().expect("nets lock");
        nets.iter()
            .find(|n| n.name == key || n.id == key)
            .or_else(|| {
                let hits: Vec<_> = nets.iter().filter(|n| !key.is_empty() && n.id.starts_with(key)).collect();
                (hits.len() == 1).then(|| hits[0])
            })
            .cloned()
    }

    fn save(&self, nets: &[UserNet]) -> std::io::Result<()> {
        if let Some(p) = self.file.parent() {
            std::fs::create_dir_all(p)?;
        }
        berth_proto::fsutil::write_json_atomic(&self.file, &nets)
    }

    /// Adds a network; the subnet is the one asked for, or the first free one of the
    /// `default-address-pools` (without them, the first free /24 of 10.223.0.0/16). `taken` are
    /// subnets in use outside the user networks (the default bridge's).
    pub fn create(
        &self,
        spec: NetworkSpec,
        taken: &[Ipv4Net],
        pools: &[crate::config::AddressPool],
    ) -> Result<UserNet, EngineError> {
        let NetworkSpec { name, subnet, gateway, internal, labels, ip_range, aux_addresses, v6 } = spec;
        if (ip_range.is_some() || !aux_addresses.is_empty()) && subnet.is_none() {
            return Err(EngineError::invalid("IPRange and AuxiliaryAddresses need the Subnet they lie in"));
        }
        let mut nets = self.nets.lock().expect("nets lock");
        if nets.iter().any(|n| n.name == name) {
            return Err(EngineError::conflict(format!("network with name {name} already exists")));
        }
        let used: Vec<Ipv4Net> = nets.iter().map(|n| n.subnet).chain(taken.iter().copied()).collect();
        let overlaps = |s: &Ipv4Net| used.iter().any(|u| u.contains(&s.network()) || s.contains(&u.network()));
        let subnet = match subnet {
            Some(s) => {
                let s = s.trunc();
                if overlaps(&s) {
                    return Err(EngineError::invalid(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({s})"
                    )));
                }
                s
            }
            None => {
                let default_pool = [crate::config::AddressPool { base: "10.223.0.0/16".into(), size: 24 }];
                let pools = if pools.is_empty() { &default_pool[..] } else { pools };
                // As dockerd, a picked subnet also avoids the host's routes: another engine's
                // (or another Berth's) bridges, the host's own networks.
                let routes = berth_net::routes::ipv4_routes();
                let routed = |s: &Ipv4Net| routes.iter().any(|r| r.contains(&s.network()) || s.contains(&r.network()));
                pools.iter().filter_map(|p| crate::config::address_pool_subnets(p).ok()).flatten().find(|s| !overlaps(s) && !routed(s)).ok_or_else(|| EngineError::invalid(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    ))?
            }
        };
        let gateway = gateway.unwrap_or_else(|| {
            let o = u32::from(subnet.network()) + 1;
            Ipv4Addr::from(o)
        });
        if !subnet.contains(&gateway) {
            return Err(EngineError::invalid(format!("invalid gateway {gateway}: not in subnet {subnet}")));
        }
        let ip_range = ip_range.map(|r| r.trunc());
        if let Some(r) = ip_range.filter(|r| !subnet.contains(r)) {
            return Err(EngineError::invalid(format!(
                "invalid pool request: IPRange {r} is not inside subnet {subnet}"
            )));
        }
        if let Some((k, a)) = aux_addresses.iter().find(|(_, a)| !subnet.contains(*a)) {
            return Err(EngineError::invalid(format!(
                "invalid pool request: auxiliary address {k}={a} is not inside subnet {subnet}"
            )));
        }
        let id = crate::engine::store::new_id();
        let v6 = match v6 {
            Some(p) => Some(net6(p, &id, &nets)?),
            None => None,
        };
        let net = UserNet {
            bridge: format!("br-{}", &id[..12]),
            id,
            name,
            subnet,
            gateway,
            internal,
            labels,
            created: crate::engine::store::now_rfc3339(),
            ip_range,
            aux_addresses,
            v6,
        };
        nets.push(net.clone());
        self.save(&nets)?;
        Ok(net)
    }

    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        let mut nets = self.nets.lock().expect("nets lock");
        nets.retain(|n| n.id != id);
        self.save(&nets)
    }
}

/// The IPv6 half of a new network: the subnet asked for, or a ULA /64 of its own
/// (`fdXX:XXXX:XXXX::/64`, 40 bits from the new network's random id, as RFC 4193 asks of a
/// locally assigned prefix), checked against the other networks' IPv6 subnets.
fn net6(p: Pool6, id: &str, nets: &[UserNet]) -> Result<Net6, EngineError> {
    let used: Vec<Ipv6Net> = nets.iter().filter_map(|n| n.v6.as_ref().map(|v| v.subnet)).collect();
    let overlaps = |s: &Ipv6Net| used.iter().any(|u| u.contains(&s.network()) || s.contains(&u.network()));
    if (p.ip_range.is_some() || p.gateway.is_some()) && p.subnet.is_none() {
        return Err(EngineError::invalid("an IPv6 IPRange or Gateway needs the Subnet it lies in"));
    }
    let subnet = match p.subnet {
        Some(s) => {
            let s = s.trunc();
            if s.prefix_len() > 126 {
                return Err(EngineError::invalid(format!("invalid pool request: IPv6 subnet {s} is too small")));
            }
            if overlaps(&s) {
                return Err(EngineError::invalid(format!(
                    "invalid pool request: Pool overlaps with other one on this address space ({s})"
                )));
            }
            s
        }
        None => {
            let bits = u64::from_str_radix(&id[..10], 16).map_err(|_| EngineError::internal("network id"))?;
            let prefix = (0xfdu128 << 120) | (u128::from(bits) << 80);
            let s = Ipv6Net::new(Ipv6Addr::from(prefix), 64).map_err(|e| EngineError::internal(e.to_string()))?;
            if overlaps(&s) {
                return Err(EngineError::invalid(
                    "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
                ));
            }
            s
        }
    };
    let gateway = p.gateway.unwrap_or_else(|| Ipv6Addr::from(u128::from(subnet.network()) + 1));
    if !subnet.contains(&gateway) || gateway == subnet.network() {
        return Err(EngineError::invalid(format!("invalid gateway {gateway}: not a host of subnet {subnet}")));
    }
    let ip_range = p.ip_range.map(|r| r.trunc());
    if let Some(r) = ip_range.filter(|r| !subnet.contains(r)) {
        return Err(EngineError::invalid(format!("invalid pool request: IPRange {r} is not inside subnet {subnet}")));
    }
    Ok(Net6 { subnet, gateway, ip_range })
}
