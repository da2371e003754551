//! The Linux bridge a network's containers hang off.

use crate::cmd::{ip, is_not_found};
use crate::{Error, Ipv4Net, Ipv6Net, Result};
use serde::Deserialize;

/// Operations on a bridge device (stateless: the kernel is the state).
pub struct Bridge;

#[derive(Deserialize)]
struct AddrInfo {
    #[serde(default)]
    addr_info: Vec<Addr>,
}

#[derive(Deserialize)]
struct Addr {
    family: String,
    local: String,
    prefixlen: u8,
}

impl Bridge {
    /// Makes sure bridge `name` exists, carries `gateway_cidr` (e.g. `10.77.0.1/24`) and is up.
    ///
    /// Idempotent. An existing bridge with another address gets this one added, never the old one
    /// removed: running containers still route through the old gateway. Also turns on
    /// `route_localnet` on the bridge (best effort) so published ports answer on 127.0.0.1.
    /// IPv4 forwarding is the caller's choice ([`enable_ip_forward`], Docker's `--ip-forward`).
    pub fn ensure(name: &str, gateway_cidr: Ipv4Net) -> Result<()> {
        check_ifname(name)?;
        if !Self::exists(name)? {
            // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it
            // as containers come and go, leaving stale gateway entries in their ARP caches.
            let mac = crate::mac::mac_for_ip(gateway_cidr.addr());
            match ip(&["link", "add", "name", name, "address", &mac, "type", "bridge"]) {
                Ok(_) => {}
                // Lost a race with another caller: fine, it exists now.
                Err(Error::Command { stderr, .. }) if stderr.contains("File exists") => {}
                Err(e) => return Err(e),
            }
        }
        if !Self::addresses(name)?.contains(&gateway_cidr) {
            let a = gateway_cidr.to_string();
            match ip(&["addr", "add", &a, "dev", name]) {
                Ok(_) => {}
                // Lost a race with another start on the same new network: iproute2 says "File
                // exists" or, in newer releases, "Address already assigned"; either way the
                // address is there now, which is all this needs.
                Err(_) if Self::addresses(name)?.contains(&gateway_cidr) => {}
                Err(e) => return Err(e),
            }
        }
        ip(&["link", "set", "dev", name, "up"])?;
        sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1");
        Ok(())
    }

    /// Adds the IPv6 gateway `gateway_cidr` (e.g. `fd00:1::1/64`) to an existing bridge, made by
    /// [`Self::ensure`]. `nodad`: duplicate address detection would leave the gateway unusable
    /// ("tentative") for a second or more after every new network, and nothing else on a fresh
    /// bridge can hold its address.
    pub fn ensure_v6(name: &str, gateway_cidr: Ipv6Net) -> Result<()> {
        check_ifname(name)?;
        // A host booted with IPv6 off by default creates bridges with it off too.
        sysctl(&format!("net/ipv6/conf/{name}/disable_ipv6"), "0");
        if !Self::addresses_v6(name)?.contains(&gateway_cidr) {
            let a = gateway_cidr.to_string();
            match ip(&["addr", "add", &a, "dev", name, "nodad"]) {
                Ok(_) => {}
                Err(_) if Self::addresses_v6(name)?.contains(&gateway_cidr) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn exists(name: &str) -> Result<bool> {
        // sysfs answers without a process spawn (this runs on every container start).
        if !name.is_empty() && !name.contains('/') && name != "." && name != ".." {
            return Ok(std::path::Path::new("/sys/class/net").join(name).exists());
        }
        match ip(&["link", "show", "dev", name]) {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// IPv4 addresses on the device, with their prefixes.
    pub fn addresses(name: &str) -> Result<Vec<Ipv4Net>> {
        Ok(Self::addr_info(name, "inet")?
            .into_iter()
            .filter_map(|a| Ipv4Net::new(a.local.parse().ok()?, a.prefixlen).ok())
            .collect())
    }

    /// IPv6 addresses on the device (link-local ones too), with their prefixes.
    pub fn addresses_v6(name: &str) -> Result<Vec<Ipv6Net>> {
        Ok(Self::addr_info(name, "inet6")?
            .into_iter()
            .filter_map(|a| Ipv6Net::new(a.local.parse().ok()?, a.prefixlen).ok())
            .collect())
    }

    fn addr_info(name: &str, family: &str) -> Result<Vec<Addr>> {
        let out = ip(&["-j", "addr", "show", "dev", name])?;
        let links: Vec<AddrInfo> =
            serde_json::from_str(&out).map_err(|e| Error::Invalid(format!("ip -j addr: {e}")))?;
        Ok(links.into_iter().flat_map(|l| l.addr_info).filter(|a| a.family == family).collect())
    }

    /// Deletes the bridge (its veths stay but lose their master). Missing is fine.
    pub fn remove(name: &str) -> Result<()> {
        check_ifname(name)?;
        match ip(&["link", "del", "dev", name]) {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes a sysctl of the current network namespace; failures are logged, not fatal, because a
/// read-only /proc/sys (nested containers) must not stop networking that may work anyway.
/// Turns on IPv4 forwarding (best effort): without it containers reach nothing beyond the host.
pub fn enable_ip_forward() {
    sysctl("net/ipv4/ip_forward", "1");
}

/// Turns on IPv6 forwarding (best effort), as dockerd does once a network has IPv6. The kernel
/// then stops accepting router advertisements on interfaces left at `accept_ra=1`: a host that
/// configures itself by SLAAC needs `accept_ra=2` there (dockerd's documented caveat too).
pub fn enable_ip6_forward() {
    sysctl("net/ipv6/conf/all/forwarding", "1");
}

pub(crate) fn sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/{key}");
    if std::fs::read_to_string(&path).map(|v| v.trim() == value).unwrap_or(false) {
        return;
    }
    if let Err(e) = std::fs::write(&path, value) {
        tracing::warn!(%path, error = %e, "cannot set sysctl");
    }
}

/// Interface names: 1–15 bytes, no '/', whitespace or ':' (the kernel's rule, IFNAMSIZ - 1).
pub(crate) fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':' && b != b'"');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("interface name {name:?}")))
    }
}
