//! The MAC address of an interface on a Berth bridge.

use std::net::Ipv4Addr;

/// Docker derives the MAC from the address, so a reused address keeps its MAC and peers' ARP
/// caches stay right.
pub fn mac_for_ip(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// A MAC address a user asks for (`--mac-address`), as the kernel will take it: six hex octets
/// separated by ':' or '-', unicast; returned lowercase with ':'.
pub fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let octets: Vec<u8> = parts.iter().map(|p| u8::from_str_radix(p, 16).ok()).collect::<Option<_>>()?;
    // A multicast address (low bit of the first octet) cannot be an interface's own.
    (octets[0] & 1 == 0).then(|| octets.iter().map(|o| format!("{o:02x}")).collect::<Vec<_>>().join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_macs() {
        assert_eq!(parse_mac("02:42:AC:11:00:09").as_deref(), Some("02:42:ac:11:00:09"));
        assert_eq!(parse_mac("92-d0-c6-0a-29-33").as_deref(), Some("92:d0:c6:0a:29:33"));
        assert_eq!(parse_mac("01:00:5e:00:00:01"), None, "multicast");
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:zz"), None);
    }
}
