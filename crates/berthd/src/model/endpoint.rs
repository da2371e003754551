//! A container's network attachment as its record keeps it.

use berth_net::{Ipv4Net, Ipv6Net, PortMapping};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a bridge-attached container records at create (invariant 8): the network, subnet and
/// address it got, so a daemon restarted with another `--bip` still knows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetEndpoint {
    pub network: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// IPAM pool key (`<network>-<subnet>`): the file the address lives in.
    pub pool: String,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// Extra names on a user-defined network (`--network-alias`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's interface is `eth<iface>`; networks joined later get the next number.
    #[serde(default)]
    pub iface: u8,
    /// `IPAMConfig.IPv4Address` as the client asked for it (`ip` is then that address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ipv4: Option<Ipv4Addr>,
    /// Endpoint `DriverOpts` as given: the bridge reads none of them (as dockerd's bridge driver
    /// reads none but its own), and inspect reports them back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Endpoint `Links` (`name:alias`): names only this container knows its peers by here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// `MacAddress` as the client asked for it (`mac` is then that address); inspect shows it
    /// while the container is not running, as dockerd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_mac: Option<String>,
    /// `IPAMConfig.LinkLocalIPs`: extra IPv4 link-local addresses (169.254.0.0/16) on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local: Vec<Ipv4Addr>,
    /// The IPv6 half of the endpoint, on a network with IPv6 (absent in records of releases
    /// before IPv6, which read this record without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<Endpoint6>,
}

/// A container's IPv6 address on a dual-stack network, and the pool it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint6 {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    pub ip: Ipv6Addr,
    /// IPAM pool key of the network's IPv6 pool (`ipam6-<pool>.json`).
    pub pool: String,
    /// `IPAMConfig.IPv6Address` as the client asked for it (`ip` is then that address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Ipv6Addr>,
}
