//! Published ports: Docker's `-p` syntax and the host-side availability check.

use crate::{io_err, Error, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p [hostip:]hostport:containerport[/proto]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None` (or 0.0.0.0, or ::) = every local address of the host; an IPv6 address is
    /// reached only by containers with an IPv6 address.
    pub host_ip: Option<IpAddr>,
    /// 0 = not chosen yet (`-p 80` or `-p 127.0.0.1::80`); see [`pick_free_port`].
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortMapping {
    /// Parses Docker's short syntax (no ranges): `80`, `8080:80`, `127.0.0.1:8080:80/udp`,
    /// `127.0.0.1::80`, `[fd00::1]:8080:80`.
    pub fn parse(spec: &str) -> Result<PortMapping> {
        let bad = || Error::Invalid(format!("port specification {spec:?}"));
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some(_) => return Err(bad()),
            None => (spec, Proto::Tcp),
        };
        // An IPv6 host address comes in brackets.
        let (v6, rest) = match rest.strip_prefix('[').and_then(|r| r.split_once("]:")) {
            Some((ip, r)) => (Some(ip.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?), r),
            None => (None, rest),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let port = |s: &str, allow_empty: bool| -> Result<u16> {
            if s.is_empty() && allow_empty {
                return Ok(0);
            }
            match s.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(bad()),
            }
        };
        let (host_ip, host_port, container_port) = match parts.as_slice() {
            [h, c] if v6.is_some() => (v6.map(IpAddr::V6), port(h, true)?, port(c, false)?),
            _ if v6.is_some() => return Err(bad()),
            [c] => (None, 0, port(c, false)?),
            [h, c] => (None, port(h, true)?, port(c, false)?),
            [ip, h, c] => {
                let ip = if ip.is_empty() { None } else { Some(ip.parse().map_err(|_| bad())?) };
                (ip, port(h, true)?, port(c, false)?)
            }
            _ => return Err(bad()),
        };
        let host_ip = host_ip.filter(|ip: &IpAddr| !ip.is_unspecified());
        Ok(PortMapping { host_ip, host_port, container_port, proto })
    }

    /// The address the mapping listens on, 0.0.0.0 for "all".
    pub fn host_ip_or_any(&self) -> IpAddr {
        self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// True when both would claim the same host port (same proto, overlapping address).
    pub fn conflicts_with(&self, other: &PortMapping) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && self.host_port != 0
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

/// Fails with Docker's "port is already allocated" when a host process holds the port.
///
/// Published ports are kernel DNAT rules, so nothing in Berth holds them: this only sees other
/// programs. Conflicts between Berth's own containers are [`crate::Desired::port_conflict`].
pub fn check_port_free(host_ip: Option<IpAddr>, port: u16, proto: Proto) -> Result<()> {
    let ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, port);
    let r = match proto {
        Proto::Tcp => TcpListener::bind(addr).map(drop),
        Proto::Udp => UdpSocket::bind(addr).map(drop),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortAllocated { ip, port }),
        Err(e) => Err(io_err(format!("binding {addr}/{}", proto.as_str()))(e)),
    }
}

/// Lets the kernel choose a free ephemeral port for `-p 80` (host port left empty).
pub fn pick_free_port(host_ip: Option<IpAddr>, proto: Proto) -> Result<u16> {
    let addr = SocketAddr::new(host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 0);
    let port = match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    }
    .map_err(io_err("choosing a free port"))?
    .port();
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_short_syntax() {
        let m = PortMapping::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(m.host_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!((m.host_port, m.container_port, m.proto), (8080, 80, Proto::Udp));
        let m = PortMapping::parse("8080:80").unwrap();
        assert_eq!((m.host_ip, m.host_port, m.container_port, m.proto), (None, 8080, 80, Proto::Tcp));
        assert_eq!(PortMapping::parse("80").unwrap().host_port, 0);
        assert_eq!(PortMapping::parse("127.0.0.1::80").unwrap().host_port, 0);
        assert_eq!(PortMapping::parse("0.0.0.0:1:2").unwrap().host_ip, None);
        let m = PortMapping::parse("[fd00::1]:8080:80").unwrap();
        assert_eq!((m.host_ip, m.host_port), (Some("fd00::1".parse().unwrap()), 8080));
        assert_eq!(PortMapping::parse("[::]:8080:80").unwrap().host_ip, None);
        assert_eq!(PortMapping::parse("[::1]::80").unwrap().host_port, 0);
        for bad in ["", "a:80", "80/sctp", "1:2:3:4", "70000:80", "8080:0", "x.y:1:2", "[fd00::1]:80", "[x]:1:2"] {
            assert!(PortMapping::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn conflicts() {
        let any = PortMapping::parse("8080:80").unwrap();
        let lo = PortMapping::parse("127.0.0.1:8080:81").unwrap();
        let other = PortMapping::parse("127.0.0.2:8080:81").unwrap();
        let udp = PortMapping::parse("8080:80/udp").unwrap();
        assert!(any.conflicts_with(&lo));
        assert!(!lo.conflicts_with(&other));
        assert!(!any.conflicts_with(&udp));
    }

    #[test]
    fn port_in_use_is_reported_like_docker() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let e = check_port_free(lo, port, Proto::Tcp).unwrap_err();
        assert_eq!(e.to_string(), format!("Bind for 127.0.0.1:{port} failed: port is already allocated"));
        drop(l);
        check_port_free(lo, port, Proto::Tcp).unwrap();
    }
}
