//! Addresses: a container's endpoint gets its IPv4 (and, on a network with IPv6, its IPv6)
//! address from the network's pools, keeps it while it exists, and gives it back at rm. A pool
//! is written before the call returns, and an address held but not yet recorded is `pending`,
//! so a restore can free exactly what a crash left allocated and recorded nowhere.

use crate::engine::daemon::Daemon;
use crate::engine::network::{EndpointRequest, NetError, Network};
use crate::model::NetEndpoint;
use berth_net::{Ipam, Ipv4Net, Ipv6Net};

/// The IPAM pool key (`<network>-<subnet>-<prefix>`) of a network's subnet of either family.
pub(super) fn pool_key(network: &str, subnet: impl berth_net::Family) -> String {
    // `:` is not welcome in file names everywhere; IPv6 pools have files of their own anyway.
    format!("{network}-{}-{}", subnet.network().to_string().replace(':', "_"), subnet.prefix_len())
}

impl Network {
    fn ipam<N: berth_net::Family>(
        &self,
        pool: &str,
        subnet: N,
        gateway: N::Addr,
        range: Option<N>,
    ) -> Result<Ipam<N>, NetError> {
        std::fs::create_dir_all(&self.ipam_dir)?;
        Ok(Ipam::open(&self.ipam_dir, pool, subnet, Some(gateway), range)?)
    }

    /// The endpoint's IPv6 half on a network with IPv6 (`net`), from its pool; `requested` is
    /// `IPAMConfig.IPv6Address`, which a network without IPv6 refuses.
    fn allocate_v6(
        &self,
        id: &str,
        network: &str,
        net: Option<&crate::engine::usernets::Net6>,
        requested: Option<std::net::Ipv6Addr>,
    ) -> Result<Option<crate::model::Endpoint6>, NetError> {
        let Some(n) = net else {
            return match requested {
                Some(a) => Err(NetError::Invalid(format!(
                    "invalid IPv6 address {a}: network {network} does not have IPv6 enabled"
                ))),
                None => Ok(None),
            };
        };
        let pool = pool_key(network, n.subnet);
        let ip = self.ipam(&pool, n.subnet, n.gateway, n.ip_range)?.allocate(id, requested)?;
        Ok(Some(crate::model::Endpoint6 { subnet: n.subnet, gateway: n.gateway, ip, pool, requested }))
    }

    /// At create or connect: an address on the default bridge, from the current `--bip`. The
    /// request's aliases, address and links were refused before (`check_default_bridge`,
    /// `links::only_on_user_networks`): the bridge takes its driver options, MAC and link-local
    /// addresses.
    pub fn allocate(&self, d: &Daemon, id: &str, req: EndpointRequest) -> Result<NetEndpoint, NetError> {
        let cfg = d.config();
        let (gw, len) =
            crate::config::parse_cidr(&cfg.bip).ok_or_else(|| NetError::Invalid(format!("bad bip {}", cfg.bip)))?;
        let subnet = Ipv4Net::new(gw, len).map_err(|e| NetError::Invalid(e.to_string()))?.trunc();
        let range =
            cfg.fixed_cidr.as_deref().and_then(crate::config::parse_cidr).and_then(|(a, l)| Ipv4Net::new(a, l).ok());
        let pool = pool_key("bridge", subnet);
        let _g = self.lock.lock().expect("network lock");
        self.pending.lock().expect("pending lock").insert(id.to_string());
        let ipam = self.ipam(&pool, subnet, gw, range)?;
        let ip = ipam.allocate(id, None)?;
        let v6 = self.allocate_v6(id, "bridge", bridge_v6(&cfg).as_ref(), None)?;
        Ok(NetEndpoint {
            v6,
            network: "bridge".into(),
            bridge: cfg.bridge.clone(),
            subnet,
            gateway: gw,
            ip,
            mac: req.mac.clone().unwrap_or_else(|| berth_net::mac_for_ip(ip)),
            pool,
            ports: vec![],
            aliases: vec![],
            iface: 0,
            requested_ipv4: None,
            driver_opts: req.driver_opts,
            links: Vec::new(),
            requested_mac: req.mac,
            link_local: req.link_local,
        })
    }

    /// At create, on a user-defined network.
    pub fn allocate_on(
        &self,
        id: &str,
        net: &crate::engine::usernets::UserNet,
        req: EndpointRequest,
    ) -> Result<NetEndpoint, NetError> {
        let pool = pool_key(&net.name, net.subnet);
        let _g = self.lock.lock().expect("network lock");
        self.pending.lock().expect("pending lock").insert(id.to_string());
        let ipam = self.ipam(&pool, net.subnet, net.gateway, net.ip_range)?;
        ipam.reserve(&net.aux_addresses.values().copied().collect::<Vec<_>>())?;
        let ip = ipam.allocate(id, req.ipv4)?;
        let v6 = match self.allocate_v6(id, &net.name, net.v6.as_ref(), req.ipv6) {
            Ok(v6) => v6,
            Err(e) => {
                // The IPv4 address is not recorded anywhere yet: give it back now.
                let _ = ipam.release(id);
                return Err(e);
            }
        };
        Ok(NetEndpoint {
            v6,
            network: net.name.clone(),
            bridge: net.bridge.clone(),
            subnet: net.subnet,
            gateway: net.gateway,
            ip,
            mac: req.mac.clone().unwrap_or_else(|| berth_net::mac_for_ip(ip)),
            requested_mac: req.mac,
            link_local: req.link_local,
            pool,
            ports: vec![],
            aliases: req.aliases,
            iface: 0,
            requested_ipv4: req.ipv4,
            driver_opts: req.driver_opts,
            links: req.links,
        })
    }

    /// The container's addresses are now recorded in its record (or given back).
    pub fn settled(&self, id: &str) {
        self.pending.lock().expect("pending lock").remove(id);
    }

    /// Removes veth pairs left whole in the host's namespace: a daemon killed between `ip link
    /// add` and moving the peer into the container's namespace leaves both ends there, and the
    /// kernel removes a pair only with a namespace holding one end. Only pairs of this daemon's
    /// containers that are not running and have no operation in flight (the op lock, which
    /// every start holds while it wires the network, is taken without waiting): another daemon's
    /// pairs, and a start running beside the restore, are left alone.
    pub(super) fn sweep_stray_veths(&self, d: &Daemon) {
        let Ok(rd) = std::fs::read_dir("/sys/class/net") else { return };
        let links: Vec<String> =
            rd.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| n.starts_with("vb")).collect();
        if links.is_empty() {
            return;
        }
        let not_running = |s: crate::model::Status| !s.is_live() && s != crate::model::Status::Starting;
        // Running containers (most, on a busy host) are passed over without copying their record.
        for e in d.store.all().into_iter().filter(|e| not_running(e.status())) {
            let host = berth_net::host_veth_name(&e.snapshot().id);
            let ours: Vec<u8> = links
                .iter()
                .filter_map(|n| match n.strip_prefix(host.as_str()) {
                    Some("") => Some(0),
                    Some(rest) => rest.strip_prefix('x').and_then(|i| i.parse().ok()),
                    None => None,
                })
                .collect();
            if ours.is_empty() {
                continue;
            }
            let Ok(_op) = e.op.try_lock() else { continue };
            // Checked again under the lock: a start may have begun since the first look.
            let c = e.snapshot();
            if !not_running(c.state.status) {
                continue;
            }
            for index in ours {
                match berth_net::detach_iface(&c.id, index) {
                    Ok(()) => tracing::info!(id = %c.short_id(), index, "removed a veth pair a crash left in the host"),
                    Err(err) => tracing::warn!(id = %c.short_id(), "removing a stray veth pair: {err}"),
                }
            }
        }
    }

    /// Frees addresses no container records: left by a daemon that died between allocating an
    /// address and recording it (create, connect), or by a removal cut short.
    pub(super) fn sweep_unrecorded(&self, d: &Daemon) {
        let recorded: std::collections::HashSet<(String, String)> = d
            .store
            .all()
            .iter()
            .map(|e| e.snapshot())
            .flat_map(|c| {
                c.endpoints()
                    .flat_map(|ep| {
                        let v6 = ep.v6.as_ref().map(|v| (format!("v6:{}", v.pool), c.id.clone()));
                        std::iter::once((ep.pool.clone(), c.id.clone())).chain(v6)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let _g = self.lock.lock().expect("network lock");
        let pending = self.pending.lock().expect("pending lock").clone();
        self.sweep_pools::<Ipv4Net>("", &recorded, &pending);
        self.sweep_pools::<Ipv6Net>("v6:", &recorded, &pending);
    }

    fn sweep_pools<N: berth_net::Family>(
        &self,
        tag: &str,
        recorded: &std::collections::HashSet<(String, String)>,
        pending: &std::collections::HashSet<String>,
    ) {
        let pools = match Ipam::<N>::open_all(&self.ipam_dir) {
            Ok(p) => p,
            Err(e) => return tracing::warn!("reading the address pools: {e}"),
        };
        for (pool, ipam) in pools {
            let key = format!("{tag}{pool}");
            let keep: Vec<String> = ipam
                .allocations()
                .into_keys()
                .filter(|id| pending.contains(id) || recorded.contains(&(key.clone(), id.clone())))
                .collect();
            match ipam.reconcile(&keep) {
                Ok(freed) if !freed.is_empty() => {
                    tracing::info!("pool {pool}: freed addresses no container records: {freed:?}")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("pool {pool}: {e}"),
            }
        }
    }

    /// At rm: the address goes back to its pool.
    pub fn release(&self, id: &str, ep: &NetEndpoint) {
        let _g = self.lock.lock().expect("network lock");
        self.pending.lock().expect("pending lock").remove(id);
        match self.ipam(&ep.pool, ep.subnet, ep.gateway, None).and_then(|i| Ok(i.release(id)?)) {
            Ok(_) => {}
            Err(e) => tracing::warn!("releasing {}: {e}", ep.ip),
        }
        if let Some(v) = &ep.v6 {
            if let Err(e) = self.ipam(&v.pool, v.subnet, v.gateway, None).and_then(|i| Ok(i.release(id)?)) {
                tracing::warn!("releasing {}: {e}", v.ip);
            }
        }
    }
}

/// The default bridge's IPv6 half (daemon.json `ipv6` with `fixed-cidr-v6`): its gateway is
/// the subnet's first address.
pub fn bridge_v6(cfg: &crate::config::Config) -> Option<crate::engine::usernets::Net6> {
    let subnet = cfg.fixed_cidr_v6.filter(|_| cfg.ipv6)?;
    let gateway = std::net::Ipv6Addr::from(u128::from(subnet.network()) + 1);
    Some(crate::engine::usernets::Net6 { subnet, gateway, ip_range: None })
}
