//! User-defined bridge networks: each gets its own bridge (`br-<id12>`), subnet and IPAM pool,
//! persisted in `<data-root>/network/networks.json`. Containers on one network find each other by
//! name through their /etc/hosts, which Berth rewrites in place as members come and go — a static
//! file, and through the embedded DNS each member's monitor serves (`engine::dns`), so names keep
//! resolving while the daemon is down (dockerd's embedded DNS does not).

use crate::engine::EngineError;
use berth_net::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
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
        let NetworkSpec { name, subnet, gateway, internal, labels, ip_range, aux_addresses } = spec;
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
