//! The daemon's side of container networking (default bridge). Everything a running container's
//! network needs is put in the kernel — a namespace file, a veth on the bridge, nftables rules in
//! Berth's own table — or in the container's /etc/hosts, so published ports and names keep
//! working while the daemon is down. Restore reconciles the table instead of rebuilding it.

pub use crate::engine::addresses::bridge_v6;
use crate::engine::addresses::pool_key;
use crate::engine::daemon::Daemon;
pub use crate::engine::ports::port_mappings;
use crate::model::{Container, NetEndpoint};
use berth_net::{Desired, DesiredEndpoint, DesiredNetwork, Ipv4Net, Ipv6Net, NetnsRef, PortMapping};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a create or a connect asks of one endpoint on a user-defined network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    /// `IPAMConfig.IPv4Address`: this address, or the request fails.
    pub ipv4: Option<Ipv4Addr>,
    /// `IPAMConfig.IPv6Address`: on a network with IPv6, this address, or the request fails.
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub driver_opts: BTreeMap<String, String>,
    /// `Links` of the endpoint: `name:alias` pairs.
    pub links: Vec<String>,
    /// `MacAddress` of the endpoint (or the deprecated `Config.MacAddress`), checked by the API.
    pub mac: Option<String>,
    /// `IPAMConfig.LinkLocalIPs`, checked by the API (IPv4 link-local only).
    pub link_local: Vec<Ipv4Addr>,
}

/// The names its peers on a user-defined network know a container by (its /etc/hosts lines
/// there, and `DNSNames` in inspect): its name, its aliases on that network, its short id.
pub fn names_on(c: &Container, ep: &NetEndpoint) -> Vec<String> {
    let mut names = vec![c.name.clone()];
    names.extend(ep.aliases.iter().cloned());
    names.push(c.short_id().to_string());
    names
}

pub struct Network {
    pub(super) ipam_dir: PathBuf,
    netns_dir: PathBuf,
    /// Serializes allocation against the port-conflict check.
    pub(super) lock: Mutex<()>,
    /// (bridge, gateway/prefix) pairs known to be in place, and networks already expressed in
    /// the table, so that a start without published ports spawns no `ip`/`nft` for them.
    /// Cleared on restore, which re-checks everything against the kernel.
    ensured: Mutex<std::collections::HashSet<String>>,
    /// Containers holding an address they have not recorded yet (create or connect in flight):
    /// the restore's sweep of unrecorded addresses must not free theirs.
    pub(super) pending: Mutex<std::collections::HashSet<String>>,
    pub user: crate::engine::usernets::UserNets,
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{0}")]
    Net(#[from] berth_net::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The endpoint's MAC: the one recorded (asked for, or derived at allocation), else derived.
fn mac_of(ep: &NetEndpoint) -> String {
    match ep.mac.is_empty() {
        true => berth_net::mac_for_ip(ep.ip),
        false => ep.mac.clone(),
    }
}

fn iface_of<'a>(ep: &'a NetEndpoint, addr: Ipv4Net, mac: &'a str) -> berth_net::Iface<'a> {
    let v6 = ep.v6.as_ref().and_then(|v| Some((Ipv6Net::new(v.ip, v.subnet.prefix_len()).ok()?, v.gateway)));
    berth_net::Iface { index: ep.iface, addr, gateway: ep.gateway, mac, link_local: &ep.link_local, v6 }
}

/// Berth's nftables table for a bridge: one per daemon (tests run daemons side by side).
pub fn table_name(bridge: &str) -> String {
    format!("berth_{}", bridge.replace('-', "_"))
}

impl Network {
    pub fn new(data_root: &Path, exec_root: &Path) -> Self {
        Network {
            ipam_dir: data_root.join("network"),
            netns_dir: exec_root.join("netns"),
            lock: Mutex::new(()),
            ensured: Mutex::new(Default::default()),
            pending: Mutex::new(Default::default()),
            user: crate::engine::usernets::UserNets::load(data_root),
        }
    }

    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// Rewrites, in place, the /etc/hosts of every running member of a user-defined network so
    /// that each lists, by name and alias, the containers it shares a user-defined network with.
    pub fn refresh_hosts(&self, d: &Daemon, network: &str) {
        self.refresh_hosts_joining(d, network, None);
    }

    /// [`Self::refresh_hosts`] while `joining` connects: it counts as running already (its start
    /// marks it so only after its network is set up), so it and its peers learn of each other now.
    fn refresh_hosts_joining(&self, d: &Daemon, network: &str, joining: Option<&str>) {
        if network == "bridge" {
            return;
        }
        self.rewrite_hosts(d, |c| c.endpoint_on(network).is_some(), joining);
    }

    /// Rewrites the /etc/hosts of one container (at its start: its links' names).
    pub fn refresh_hosts_of(&self, d: &Daemon, id: &str) {
        self.rewrite_hosts(d, |c| c.id == id, Some(id));
    }

    fn rewrite_hosts(&self, d: &Daemon, which: impl Fn(&Container) -> bool, joining: Option<&str>) {
        let live: Vec<Container> = d
            .store
            .all()
            .iter()
            .map(|e| e.snapshot())
            .filter(|c| {
                c.state.status.is_live()
                    || c.state.status == crate::model::Status::Starting
                    || joining == Some(c.id.as_str())
            })
            .collect();
        let entry = |c: &Container, ep: &NetEndpoint| berth_net::HostsEntry::new(ep.ip, names_on(c, ep));
        let host_resolv = std::sync::OnceLock::new();
        // The default bridge has no name resolution between containers, as in Docker; a bridge
        // container that joined a user network learns that network's peers.
        for c in live.iter().filter(|c| which(c)) {
            let Some(primary) = c.endpoints().next() else {
                continue;
            };
            let mut own = entry(c, primary);
            if let Some(h) = c.config.hostname.clone() {
                if !own.names.contains(&h) {
                    own.names.insert(0, h);
                }
            }
            let peers: Vec<_> = c
                .endpoints()
                .filter(|ep| ep.network != "bridge")
                .flat_map(|ep| {
                    live.iter()
                        .filter(|p| p.id != c.id)
                        .filter_map(|p| p.endpoint_on(&ep.network).map(|pep| entry(p, pep)))
                })
                .collect();
            let extra: Vec<_> = c
                .host_config
                .extra_hosts
                .iter()
                .flatten()
                .filter_map(|e| e.split_once(':').or_else(|| e.split_once('=')))
                .filter_map(|(n, ip)| {
                    ip.parse::<std::net::IpAddr>().ok().map(|ip| berth_net::HostsEntry::new(ip, [n.to_string()]))
                })
                .chain(crate::engine::links::hosts_entries(c, &live))
                .collect();
            if let Err(e) = berth_net::write_hosts(&c.hosts_path, &own, &peers, &extra) {
                tracing::warn!(id = %c.short_id(), "updating /etc/hosts: {e}");
            }
            // The same names for its embedded DNS, which its monitor serves from this file.
            if crate::engine::dns::embedded(c) {
                let host = host_resolv.get_or_init(crate::engine::dns::host_resolv_conf);
                crate::engine::dns::write_names(c, &crate::engine::dns::names(c, &live, host));
            }
        }
    }

    /// The table as it must be: every network in use and every running container's ports.
    pub fn desired(&self, d: &Daemon, extra: Option<&(String, NetEndpoint)>) -> Desired {
        let cfg = d.config();
        let mut desired = Desired::default();
        let add_net = |ep: &NetEndpoint, desired: &mut Desired| {
            let name = pool_key(&ep.network, ep.subnet);
            if !desired.networks.iter().any(|n| n.name == name) {
                desired.networks.push(DesiredNetwork {
                    name: name.clone(),
                    bridge: ep.bridge.clone(),
                    subnet: ep.subnet,
                    internal: false,
                    subnet6: ep.v6.as_ref().map(|v| v.subnet),
                });
            }
            name
        };
        if let Some((gw, len)) = crate::config::parse_cidr(&cfg.bip) {
            if let Ok(subnet) = Ipv4Net::new(gw, len) {
                let subnet = subnet.trunc();
                let ep = NetEndpoint {
                    network: "bridge".into(),
                    bridge: cfg.bridge.clone(),
                    subnet,
                    gateway: gw,
                    ip: gw,
                    mac: String::new(),
                    pool: String::new(),
                    ports: vec![],
                    aliases: vec![],
                    iface: 0,
                    requested_ipv4: None,
                    driver_opts: Default::default(),
                    links: Vec::new(),
                    requested_mac: None,
                    link_local: Vec::new(),
                    v6: bridge_v6(&cfg).map(|n| crate::model::Endpoint6 {
                        subnet: n.subnet,
                        gateway: n.gateway,
                        ip: n.gateway,
                        pool: String::new(),
                        requested: None,
                    }),
                };
                add_net(&ep, &mut desired);
            }
        }
        let mut eps: Vec<(String, NetEndpoint)> = d
            .store
            .all()
            .iter()
            .map(|e| e.snapshot())
            .filter(|c| c.state.status.is_live() || c.state.status == crate::model::Status::Starting)
            .flat_map(|c| c.endpoints().map(|ep| (c.id.clone(), ep.clone())).collect::<Vec<_>>())
            .collect();
        if let Some(x) = extra {
            eps.retain(|(id, ep)| !(id == &x.0 && ep.iface == x.1.iface));
            eps.push(x.clone());
        }
        for un in self.user.all() {
            desired.networks.push(DesiredNetwork {
                name: pool_key(&un.name, un.subnet),
                bridge: un.bridge.clone(),
                subnet: un.subnet,
                internal: un.internal,
                subnet6: un.v6.as_ref().map(|v| v.subnet),
            });
        }
        for (id, ep) in eps {
            if ep.network == "bridge" && ep.bridge != cfg.bridge {
                continue; // Another daemon's default bridge: not this table's business.
            }
            if ep.network != "bridge" && self.user.get(&ep.network).is_none() {
                continue;
            }
            let name = add_net(&ep, &mut desired);
            // Ports are published on the primary endpoint only; other endpoints need only their network.
            if ep.iface == 0 {
                desired.endpoints.push(DesiredEndpoint {
                    container_id: id,
                    network: name,
                    ip: ep.ip,
                    ip6: ep.v6.as_ref().map(|v| v.ip),
                    ports: ep.ports.clone(),
                });
            }
        }
        desired
    }

    pub fn reconcile(&self, d: &Daemon, extra: Option<&(String, NetEndpoint)>) -> Result<(), NetError> {
        let cfg = d.config();
        if !cfg.iptables {
            return Ok(());
        }
        let desired = self.desired(d, extra);
        let report = berth_net::reconcile(&table_name(&cfg.bridge), &desired)?;
        if report.changed() {
            tracing::info!("network rules reconciled: {report:?}");
        }
        let mut known = self.ensured.lock().expect("ensured lock");
        for n in &desired.networks {
            known.insert(format!("table:{}", n.name));
        }
        Ok(())
    }

    /// The bridge exists, up, with the gateway address: checked once per bridge and gateway until
    /// the next restore (two process spawns each), not on every container start or restore.
    fn ensure_bridge(&self, d: &Daemon, ep: &NetEndpoint) -> Result<(), NetError> {
        let gw = Ipv4Net::new(ep.gateway, ep.subnet.prefix_len()).map_err(|e| NetError::Invalid(e.to_string()))?;
        let gw6 = match &ep.v6 {
            Some(v) => {
                Some(Ipv6Net::new(v.gateway, v.subnet.prefix_len()).map_err(|e| NetError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        self.ensure_gateways(d, &ep.bridge, gw, gw6)
    }

    fn ensure_gateways(&self, d: &Daemon, bridge: &str, gw: Ipv4Net, gw6: Option<Ipv6Net>) -> Result<(), NetError> {
        let key = format!("bridge:{bridge}:{gw}");
        if !self.ensured.lock().expect("ensured lock").contains(&key) {
            berth_net::Bridge::ensure(bridge, gw)?;
            self.ensured.lock().expect("ensured lock").insert(key);
        }
        if let Some(gw6) = gw6 {
            let key = format!("bridge6:{bridge}:{gw6}");
            if !self.ensured.lock().expect("ensured lock").contains(&key) {
                if d.config().ip_forward {
                    berth_net::enable_ip6_forward();
                }
                berth_net::Bridge::ensure_v6(bridge, gw6)?;
                self.ensured.lock().expect("ensured lock").insert(key);
            }
        }
        Ok(())
    }

    /// On daemon start: the default bridge exists with the current `--bip`, every running
    /// container's endpoint is in place (attach leaves intact ones alone), and the table matches.
    pub fn restore(&self, d: &Daemon) -> Result<(), NetError> {
        self.ensured.lock().expect("ensured lock").clear();
        self.sweep_unrecorded(d);
        self.sweep_stray_veths(d);
        let cfg = d.config();
        if cfg.ip_forward {
            berth_net::enable_ip_forward();
        }
        let (gw, len) =
            crate::config::parse_cidr(&cfg.bip).ok_or_else(|| NetError::Invalid(format!("bad bip {}", cfg.bip)))?;
        let gw6 = match bridge_v6(&cfg) {
            Some(n) => {
                Some(Ipv6Net::new(n.gateway, n.subnet.prefix_len()).map_err(|e| NetError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        self.ensure_gateways(
            d,
            &cfg.bridge,
            Ipv4Net::new(gw, len).map_err(|e| NetError::Invalid(e.to_string()))?,
            gw6,
        )?;
        let mut old_ranges = std::collections::BTreeMap::<Ipv4Net, Vec<String>>::new();
        let live: Vec<Container> =
            d.store.all().iter().map(|e| e.snapshot()).filter(|c| c.state.status.is_live()).collect();
        for (c, ep) in live.iter().flat_map(|c| c.endpoints().map(move |ep| (c, ep))) {
            if ep.network == "bridge" && ep.bridge != cfg.bridge {
                continue;
            }
            let ns = self.netns_path(&c.id);
            if !is_netns(&ns) {
                continue;
            }
            self.ensure_bridge(d, ep)?;
            let addr = Ipv4Net::new(ep.ip, ep.subnet.prefix_len()).map_err(|e| NetError::Invalid(e.to_string()))?;
            let mac = mac_of(ep);
            if let Err(e) = berth_net::attach_iface(&NetnsRef::Path(ns), &ep.bridge, &c.id, &iface_of(ep, addr, &mac)) {
                tracing::warn!(id = %c.short_id(), "re-attaching the endpoint: {e}");
            }
            if ep.network == "bridge" && ep.subnet != Ipv4Net::new(gw, len).map(|n| n.trunc()).unwrap_or(ep.subnet) {
                old_ranges.entry(ep.subnet).or_default().push(c.short_id().to_string());
            }
        }
        for (subnet, ids) in &old_ranges {
            tracing::warn!(
                "containers still on the previous bridge range {subnet} (new containers get {}): {}",
                cfg.bip,
                ids.join(", ")
            );
        }
        self.reconcile(d, None)
    }

    /// Container start, first half: host ports chosen and checked, the namespace file made
    /// (the runtime joins it by path). [`Network::connect`] may then run beside `runtime create`.
    pub fn prepare(&self, d: &Daemon, c: &Container) -> Result<(PathBuf, NetEndpoint), NetError> {
        let mut ep = c.endpoint.clone().ok_or_else(|| NetError::Invalid("container has no network endpoint".into()))?;
        let wanted = port_mappings(c)?;
        // The kernel cannot forward an IPv6 address to an IPv4-only container: refused, not dropped.
        if let Some(w) = wanted.iter().find(|w| w.map.host_ip.is_some_and(|ip| ip.is_ipv6()) && ep.v6.is_none()) {
            return Err(NetError::Invalid(format!(
                "cannot publish port {} on {}: the container has no IPv6 address on network {}",
                w.map.container_port,
                w.map.host_ip_or_any(),
                ep.network
            )));
        }
        let mut ports: Vec<PortMapping> = Vec::with_capacity(wanted.len());
        {
            let _g = self.lock.lock().expect("network lock");
            let others = self.desired(d, None);
            let usable = |p: &PortMapping, chosen: &[PortMapping]| {
                let held = others.port_conflict(p).filter(|o| *o != c.id).is_some()
                    || chosen.iter().any(|q| {
                        q.host_port == p.host_port
                            && q.proto == p.proto
                            && (q.host_ip.is_none() || p.host_ip.is_none() || q.host_ip == p.host_ip)
                    });
                !held && berth_net::check_port_free(p.host_ip, p.host_port, p.proto).is_ok()
            };
            for w in wanted {
                let mut p = w.map.clone();
                match w.range {
                    Some((lo, hi)) => {
                        let found =
                            (lo..=hi).find(|port| usable(&PortMapping { host_port: *port, ..p.clone() }, &ports));
                        p.host_port = found.ok_or_else(|| {
                            NetError::Conflict(crate::engine::ports::port_taken(p.host_ip, &format!("{lo}-{hi}")))
                        })?;
                    }
                    None => {
                        if p.host_port == 0 {
                            p.host_port = berth_net::pick_free_port(p.host_ip, p.proto)?;
                        }
                        if !usable(&p, &ports) {
                            return Err(NetError::Conflict(port_taken(&p)));
                        }
                    }
                }
                ports.push(p);
            }
        }
        ep.ports = ports;
        let ns = self.netns_path(&c.id);
        self.create_netns(&ns)?;
        Ok((ns, ep))
    }

    /// The slow half: bridge, veth into the namespace, address and route, rules.
    pub fn connect(&self, d: &Daemon, id: &str, ep: &NetEndpoint, ns: &Path) -> Result<(), NetError> {
        let short = &id[..12.min(id.len())];
        let ns = ns.to_path_buf();
        self.ensure_bridge(d, ep)?;
        let addr = Ipv4Net::new(ep.ip, ep.subnet.prefix_len()).map_err(|e| NetError::Invalid(e.to_string()))?;
        let mac = mac_of(ep);
        if let Err(first) =
            berth_net::attach_iface(&NetnsRef::Path(ns.clone()), &ep.bridge, id, &iface_of(ep, addr, &mac))
        {
            tracing::warn!(id = %short, "attaching the endpoint failed: {first}");
            return Err(first.into());
        }
        // A container without published ports adds nothing to the table once its network is there.
        let net_key = format!("table:{}", pool_key(&ep.network, ep.subnet));
        if !ep.ports.is_empty() || !self.ensured.lock().expect("ensured lock").contains(&net_key) {
            self.reconcile(d, Some(&(id.to_string(), ep.clone())))?;
        }
        self.refresh_hosts_joining(d, &ep.network, Some(id));
        Ok(())
    }

    /// A network namespace kept alive by a bind mount on `ns` (no process needed).
    fn create_netns(&self, ns: &Path) -> Result<(), NetError> {
        if is_netns(ns) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.netns_dir)?;
        std::fs::File::create(ns)?;
        let out = std::process::Command::new("unshare").arg(format!("--net={}", ns.display())).arg("true").output()?;
        if !out.status.success() || !is_netns(ns) {
            let _ = std::fs::remove_file(ns);
            return Err(NetError::Invalid(format!(
                "creating the network namespace {}: {}",
                ns.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// At exit or failed start: the veth, the namespace file and the container's rules go.
    pub fn teardown(&self, d: &Daemon, c: &Container) {
        for ep in c.endpoints() {
            if let Err(e) = berth_net::detach_iface(&c.id, ep.iface) {
                tracing::warn!(id = %c.short_id(), "removing the veth: {e}");
            }
        }
        let ns = self.netns_path(&c.id);
        if ns.exists() {
            let _ = nix::mount::umount2(&ns, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&ns);
        }
        for ep in c.endpoints() {
            self.refresh_hosts(d, &ep.network);
        }
        let has_ports = c.endpoint.as_ref().is_some_and(|e| !e.ports.is_empty());
        if has_ports {
            if let Err(e) = self.reconcile(d, None) {
                tracing::warn!(id = %c.short_id(), "network rules: {e}");
            }
        }
    }
}

fn port_taken(p: &PortMapping) -> String {
    crate::engine::ports::port_taken(p.host_ip, &p.host_port.to_string())
}

/// True when `p` is a mounted network namespace file (not just an empty placeholder).
fn is_netns(p: &Path) -> bool {
    berth_proto::fsutil::is_mount_point(p)
}
