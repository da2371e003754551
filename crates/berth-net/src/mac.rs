//! The MAC address of an interface on a Berth bridge.

use std::net::Ipv4Addr;

/// Docker derives the MAC from the address, so a reused address keeps its MAC and peers' ARP
/// caches stay right.
pub fn mac_for_ip(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}
