//! The host's IPv4 routes, for choosing a network's subnet: as dockerd, a subnet picked from the
//! default pools must not overlap a route the host already has (another engine's bridge, a VPN,
//! the host's own LAN).

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Every IPv4 route of the calling process's network namespace but the default route.
pub fn ipv4_routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route").map(|t| parse(&t)).unwrap_or_default()
}

/// `/proc/net/route`: destination and mask as hex of the address in memory (little-endian here).
fn parse(text: &str) -> Vec<Ipv4Net> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(|v| Ipv4Addr::from(v.swap_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, mask) = (hex(f.get(1)?)?, hex(f.get(7)?)?);
            let len = u32::from(mask).count_ones() as u8;
            (len > 0).then(|| Ipv4Net::new(dest, len).ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_table() {
        let t = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                 br-x\t0000DF0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse(t);
        assert_eq!(r, vec!["192.0.2.0/24".parse::<Ipv4Net>().unwrap(), "10.223.0.0/24".parse().unwrap()]);
    }
}
