//! A container's end of a network: a veth pair, host side on the bridge, the other side `eth0`
//! inside the container's network namespace.

use crate::bridge::check_ifname;
use crate::cmd::{ip, is_not_found, run_with_stdin};
use crate::{Bridge, Error, Ipv4Net, Ipv6Net, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The network namespace of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// The namespace the process `pid` is in (`/proc/<pid>/ns/net`).
    Pid(u32),
    /// A namespace file, e.g. a bind mount under `/run/netns` or `/run/berth/netns/<id>`.
    Path(PathBuf),
}

impl NetnsRef {
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
            NetnsRef::Path(p) => p.clone(),
        }
    }
}

/// What `attach` set up; the daemon records it for `inspect` (`NetworkSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The host side of the veth pair, enslaved to the bridge.
    pub host_veth: String,
    /// The container side's MAC (`02:42:` + the IPv4 address, as Docker does).
    pub mac: String,
    /// The container's address with the network's prefix.
    pub ip: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// `vb` + the first 10 characters of the container id: unique enough and ≤ 15 bytes.
pub fn host_veth_name(container_id: &str) -> String {
    iface_name("vb", container_id, 0)
}

/// Interface `index` of a container (`eth<index>` inside): index 0 keeps the historical name so
/// endpoints made before multi-network support are still found; others get `x<index>` (≤ 15 bytes).
fn iface_name(prefix: &str, container_id: &str, index: u8) -> String {
    let short: String = container_id.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
    match index {
        0 => format!("{prefix}{short}"),
        n => format!("{prefix}{short}x{n}"),
    }
}

/// Connects the container's namespace to `bridge` with address `addr` (e.g. `10.77.0.2/24`) on
/// `eth0` and a default route via `gateway`. Idempotent: an endpoint already in place is left
/// alone; a broken one (host side present, container side without the address) is rebuilt.
pub fn attach(
    netns: &NetnsRef,
    bridge: &str,
    container_id: &str,
    addr: Ipv4Net,
    gateway: Ipv4Addr,
) -> Result<Endpoint> {
    let mac = crate::mac::mac_for_ip(addr.addr());
    attach_iface(netns, bridge, container_id, &Iface { index: 0, addr, gateway, mac: &mac, link_local: &[], v6: None })
}

/// One interface of a container: `eth<index>`, its address and gateway, its MAC, any
/// link-local addresses besides (`LinkLocalIPs`), and its IPv6 address and gateway on a
/// network with IPv6.
pub struct Iface<'a> {
    pub index: u8,
    pub addr: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub mac: &'a str,
    pub link_local: &'a [Ipv4Addr],
    pub v6: Option<(Ipv6Net, Ipv6Addr)>,
}

/// [`attach`] for the container's interface `eth<index>` (`docker network connect`): only `eth0`
/// carries the default route, as in Docker, where the first network is the gateway.
pub fn attach_iface(netns: &NetnsRef, bridge: &str, container_id: &str, iface: &Iface) -> Result<Endpoint> {
    let &Iface { index, addr, gateway, mac, link_local, v6 } = iface;
    check_ifname(bridge)?;
    let host = iface_name("vb", container_id, index);
    if host.len() < 3 {
        return Err(Error::Invalid(format!("container id {container_id:?}")));
    }
    let tmp = iface_name("vp", container_id, index);
    let eth = format!("eth{index}");
    let ns = netns.path();
    let ns_str = ns.to_str().ok_or_else(|| Error::Invalid(format!("netns path {ns:?}")))?.to_string();
    // The caller's (the user's `--mac-address`, or the one derived from the address).
    let mac = crate::mac::parse_mac(mac).ok_or_else(|| Error::Invalid(format!("MAC address {mac:?}")))?;
    let endpoint = Endpoint { host_veth: host.clone(), mac: mac.clone(), ip: addr, gateway };

    if Bridge::exists(&host)? {
        let mut want = vec![(IpAddr::V4(addr.addr()), addr.prefix_len())];
        want.extend(v6.map(|(a, _)| (IpAddr::V6(a.addr()), a.prefix_len())));
        if container_has_addrs(&ns_str, &eth, &want)? {
            // Restore visits every endpoint: change only what differs (three spawns saved each).
            if !enslaved(&host, bridge) {
                enslave(&host, bridge)?;
            }
            return Ok(endpoint);
        }
        tracing::info!(%host, "rebuilding a half-made endpoint");
        detach_iface(container_id, index)?;
    }
    // A peer left in the host namespace by an attach that died half-way.
    if Bridge::exists(&tmp)? {
        ip(&["link", "del", "dev", &tmp])?;
    }
    // One `ip -batch` for the host side: a container start should cost few process spawns.
    let host_batch = format!(
        "link add name {host} type veth peer name {tmp}\n\
         link set dev {tmp} address {mac}\n\
         link set dev {host} master {bridge}\n\
         link set dev {host} type bridge_slave hairpin on\n\
         link set dev {host} up\n\
         link set dev {tmp} netns {ns_str}\n"
    );
    let built = (|| {
        crate::cmd::run_with_stdin("ip", &["-batch", "-"], Some(&host_batch))?;
        let mut batch = format!(
            "link set dev {tmp} name {eth}\n\
             addr replace {addr} dev {eth}\n\
             link set dev {eth} up\n\
             link set dev lo up\n"
        );
        // `LinkLocalIPs`: extra addresses in 169.254.0.0/16, scope link, as dockerd adds them.
        for ll in link_local {
            batch.push_str(&format!("addr replace {ll}/16 dev {eth} scope link\n"));
        }
        if let Some((a6, _)) = v6 {
            // `nodad`: DAD would keep the address "tentative", unusable, for the container's
            // first second or more; Berth's IPAM is what keeps addresses unique on the bridge.
            batch.push_str(&format!("addr replace {a6} dev {eth} nodad\n"));
        }
        if index == 0 {
            batch.push_str(&format!("route replace default via {gateway} dev eth0\n"));
            if let Some((_, gw6)) = v6 {
                batch.push_str(&format!("route replace ::/0 via {gw6} dev eth0\n"));
            }
        }
        nsenter_ip(&ns_str, &["-batch", "-"], Some(&batch))?;
        Ok(())
    })();
    if let Err(e) = built {
        // Deleting the host side takes the peer with it, wherever it is by now.
        let _ = ip(&["link", "del", "dev", &host]);
        return Err(e);
    }
    Ok(endpoint)
}

/// Removes the container's veth pair. Missing is fine (the kernel deletes the pair when the
/// namespace dies with the container).
pub fn detach(container_id: &str) -> Result<()> {
    detach_iface(container_id, 0)
}

/// Removes the veth pair of the container's `eth<index>`; missing is fine.
pub fn detach_iface(container_id: &str, index: u8) -> Result<()> {
    let host = iface_name("vb", container_id, index);
    match ip(&["link", "del", "dev", &host]) {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

/// True when sysfs shows `host` up, on `bridge`, with hairpin mode on: what [`enslave`] sets.
fn enslaved(host: &str, bridge: &str) -> bool {
    let dir = std::path::Path::new("/sys/class/net").join(host);
    let master = std::fs::read_link(dir.join("master")).ok();
    let on_bridge = master.as_ref().and_then(|m| m.file_name()).is_some_and(|n| n == bridge);
    let hairpin = std::fs::read_to_string(dir.join("brport/hairpin_mode")).is_ok_and(|v| v.trim() == "1");
    let flags = std::fs::read_to_string(dir.join("flags")).ok();
    let up =
        flags.and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok()).is_some_and(|f| f & 1 != 0);
    on_bridge && hairpin && up
}

/// Puts the host side on the bridge, in hairpin mode, and up.
///
/// Hairpin: with `br_netfilter` loaded (Docker hosts, this one), a container's connection to its
/// own published port on a host address is DNATed at the bridge layer and must leave by the port
/// it came in on, which a bridge refuses unless the port is in hairpin mode.
fn enslave(host: &str, bridge: &str) -> Result<()> {
    ip(&["link", "set", "dev", host, "master", bridge])?;
    ip(&["link", "set", "dev", host, "type", "bridge_slave", "hairpin", "on"])?;
    ip(&["link", "set", "dev", host, "up"])?;
    Ok(())
}

fn nsenter_ip(ns: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let net = format!("--net={ns}");
    let mut full = vec![net.as_str(), "ip"];
    full.extend_from_slice(args);
    run_with_stdin("nsenter", &full, stdin)
}

/// True when `eth` in the namespace carries every one of `want` (address, prefix length).
fn container_has_addrs(ns: &str, eth: &str, want: &[(IpAddr, u8)]) -> Result<bool> {
    let out = match nsenter_ip(ns, &["-j", "addr", "show", "dev", eth], None) {
        Ok(o) => o,
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    #[derive(Deserialize)]
    struct Link {
        #[serde(default)]
        addr_info: Vec<A>,
    }
    #[derive(Deserialize)]
    struct A {
        #[serde(default)]
        local: String,
        #[serde(default)]
        prefixlen: u8,
    }
    let links: Vec<Link> = serde_json::from_str(&out).map_err(|e| Error::Invalid(format!("ip -j addr: {e}")))?;
    let have: Vec<(IpAddr, u8)> = links
        .iter()
        .flat_map(|l| &l.addr_info)
        .filter_map(|a| Some((a.local.parse::<IpAddr>().ok()?, a.prefixlen)))
        .collect();
    Ok(want.iter().all(|w| have.contains(w)))
}
