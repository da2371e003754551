//! Berth's nftables tables: outbound NAT, forwarding, published ports.
//!
//! The tables (`ip <name>`, one per daemon, and `ip6 <name>` once a network has IPv6) are
//! Berth's alone; other tables are never read or touched. IPv6 has a table of its own rather
//! than the `ip` table becoming `inet`: a table made by an older release is then never
//! rebuilt, and a host without IPv6 networks pays nothing for them. Published ports are elements of four maps (`ports_{any,ip}_{tcp,udp}`) used by a
//! fixed set of DNAT rules, so starting or stopping a container changes map elements only.
//! Every rule carries a `berth:<key>` comment naming exactly what it does: reconcile keeps the
//! rules whose key is wanted, deletes the others by handle, and adds the missing ones, all in
//! one `nft -f -` transaction. Within each chain the rules are order-independent by
//! construction (the forward drops live in their own earlier base chain), so adding a rule at
//! the end is always right.

use crate::bridge::check_ifname;
use crate::cmd::run_with_stdin;
use crate::nft_state::{read_table, ChainInfo, MapInfo, TableState};
use crate::{Error, Ipv4Net, Ipv6Net, PortMapping, Proto, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A network as the kernel must see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredNetwork {
    /// Docker's network name (used only to tie endpoints to it).
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic in or out of the bridge, no published ports.
    #[serde(default)]
    pub internal: bool,
    /// The network's IPv6 subnet, when it has IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Ipv6Net>,
}

/// A running container's attachment and its published ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEndpoint {
    pub container_id: String,
    /// [`DesiredNetwork::name`]
    pub network: String,
    pub ip: Ipv4Addr,
    /// Its IPv6 address, on a network with IPv6: unbound published ports reach it over IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// Everything Berth's table must express.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub networks: Vec<DesiredNetwork>,
    pub endpoints: Vec<DesiredEndpoint>,
}

impl Desired {
    /// The container already holding a host port that `m` wants, if any (Docker refuses it with
    /// "port is already allocated").
    pub fn port_conflict(&self, m: &PortMapping) -> Option<&str> {
        self.endpoints.iter().find(|e| e.ports.iter().any(|p| p.conflicts_with(m))).map(|e| e.container_id.as_str())
    }
}

/// What a reconcile changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub table_created: bool,
    /// The table had chains or maps of another shape (an older Berth): it was replaced whole, in
    /// the same transaction.
    pub table_rebuilt: bool,
    pub rules_added: usize,
    pub rules_deleted: usize,
    pub elements_added: usize,
    pub elements_deleted: usize,
    /// Chains and sets Berth does not define, deleted.
    pub objects_deleted: usize,
    /// Port mappings skipped because an earlier endpoint (by container id) holds the host port.
    pub conflicts: Vec<String>,
}

impl ReconcileReport {
    pub fn changed(&self) -> bool {
        self.table_created
            || self.table_rebuilt
            || self.rules_added
                + self.rules_deleted
                + self.elements_added
                + self.elements_deleted
                + self.objects_deleted
                > 0
    }
}

struct ChainSpec {
    name: &'static str,
    kind: &'static str,
    hook: &'static str,
    prio: i64,
}

const CHAINS: &[ChainSpec] = &[
    // Raw priority: before conntrack undoes any NAT, so only forged packets match.
    ChainSpec { name: "guard", kind: "filter", hook: "prerouting", prio: -300 },
    ChainSpec { name: "prerouting", kind: "nat", hook: "prerouting", prio: -100 },
    ChainSpec { name: "output", kind: "nat", hook: "output", prio: -100 },
    ChainSpec { name: "postrouting", kind: "nat", hook: "postrouting", prio: 100 },
    // Drops run first and are final; accepts only matter for hosts whose other tables drop.
    ChainSpec { name: "forward_drop", kind: "filter", hook: "forward", prio: -10 },
    ChainSpec { name: "forward", kind: "filter", hook: "forward", prio: 0 },
];

/// The address family of one of Berth's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    /// nft's family keyword, which is also the address-match keyword (`ip daddr`, `ip6 daddr`).
    fn kw(self) -> &'static str {
        match self {
            Fam::V4 => "ip",
            Fam::V6 => "ip6",
        }
    }

    fn value_type(self) -> &'static str {
        match self {
            Fam::V4 => "ipv4_addr . inet_service",
            Fam::V6 => "ipv6_addr . inet_service",
        }
    }

    fn key_type(self, any: bool) -> &'static str {
        match any {
            true => "inet_service",
            false => self.value_type(),
        }
    }

    /// A host address a mapping is bound to belongs to this family's table.
    fn holds(self, ip: &IpAddr) -> bool {
        matches!((self, ip), (Fam::V4, IpAddr::V4(_)) | (Fam::V6, IpAddr::V6(_)))
    }
}

fn map_name(any: bool, proto: Proto) -> String {
    format!("ports_{}_{}", if any { "any" } else { "ip" }, proto.as_str())
}

/// The table as it should be: rules keyed by `(chain, comment)`, map contents.
struct Model {
    rules: BTreeMap<(String, String), String>,
    maps: BTreeMap<String, (String, BTreeMap<String, String>)>,
    conflicts: Vec<String>,
}

fn model(d: &Desired, fam: Fam) -> Result<Model> {
    let mut rules = BTreeMap::new();
    let mut rule = |chain: &str, key: String, body: String| {
        rules.insert((chain.to_string(), format!("berth:{key}")), body);
    };
    let f = fam.kw();
    for proto in [Proto::Tcp, Proto::Udp] {
        let p = proto.as_str();
        for (chain, tag) in [("prerouting", "pre"), ("output", "out")] {
            rule(
                chain,
                format!("dnat-{tag}-any-{p}"),
                format!("fib daddr type local dnat {f} to {p} dport map @{}", map_name(true, proto)),
            );
            rule(
                chain,
                format!("dnat-{tag}-ip-{p}"),
                format!("fib daddr type local dnat {f} to {f} daddr . {p} dport map @{}", map_name(false, proto)),
            );
        }
    }
    let mut nets = BTreeMap::new();
    for n in &d.networks {
        check_ifname(&n.bridge)?;
        nets.insert(n.name.as_str(), n);
        let b = &n.bridge;
        let s = match fam {
            Fam::V4 => n.subnet.trunc().to_string(),
            Fam::V6 => match n.subnet6 {
                Some(s6) => s6.trunc().to_string(),
                None => continue,
            },
        };
        if fam == Fam::V4 {
            // Host → 127.0.0.1:published port is DNATed in `output`; its source must become
            // the bridge address or the container's reply would go to its own loopback.
            rule("postrouting", format!("localnet:{b}"), format!("ip saddr 127.0.0.0/8 oifname \"{b}\" masquerade"));
            // route_localnet=1 on the bridge would also let a container reach services the host
            // binds on 127.0.0.1 (CVE-2020-8558): nothing legitimate comes in from a bridge for 127/8.
            rule("guard", format!("localnet-guard:{b}"), format!("iifname \"{b}\" ip daddr 127.0.0.0/8 drop"));
        }
        // The forward rules are per family too: IPv6 packets never pass the `ip` table's chains.
        if n.internal {
            rule("forward_drop", format!("internal-out:{b}"), format!("iifname \"{b}\" oifname != \"{b}\" drop"));
            rule("forward_drop", format!("internal-in:{b}"), format!("oifname \"{b}\" iifname != \"{b}\" drop"));
            continue;
        }
        rule("postrouting", format!("masq:{b}:{s}"), format!("{f} saddr {s} oifname != \"{b}\" masquerade"));
        // Hairpin: a container reaching a published port on the host's address, DNATed back
        // onto its own bridge, must see the reply come from the host, not from the peer.
        rule(
            "postrouting",
            format!("hairpin:{b}:{s}"),
            format!("{f} saddr {s} oifname \"{b}\" ct status dnat masquerade"),
        );
        // New connections into the bridge from elsewhere (another bridge, the LAN) only through
        // a published port, as Docker.
        rule(
            "forward_drop",
            format!("isolate:{b}"),
            format!("oifname \"{b}\" iifname != \"{b}\" ct state new ct status & dnat == 0 drop"),
        );
        rule("forward", format!("fwd-out:{b}"), format!("iifname \"{b}\" accept"));
        rule("forward", format!("fwd-in:{b}"), format!("oifname \"{b}\" ct state established,related accept"));
        rule("forward", format!("fwd-dnat:{b}"), format!("oifname \"{b}\" ct status dnat accept"));
    }

    let mut maps: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    for any in [true, false] {
        for proto in [Proto::Tcp, Proto::Udp] {
            maps.insert(map_name(any, proto), (fam.key_type(any).to_string(), BTreeMap::new()));
        }
    }
    let mut endpoints: Vec<&DesiredEndpoint> = d.endpoints.iter().collect();
    endpoints.sort_by(|a, b| a.container_id.cmp(&b.container_id));
    let mut taken: Vec<(&str, &PortMapping)> = Vec::new();
    let mut conflicts = Vec::new();
    for e in endpoints {
        let Some(net) = nets.get(e.network.as_str()) else {
            return Err(Error::Invalid(format!("endpoint {} on unknown network {}", e.container_id, e.network)));
        };
        let target = match fam {
            Fam::V4 => IpAddr::V4(e.ip),
            Fam::V6 => match e.ip6 {
                Some(ip6) => IpAddr::V6(ip6),
                None => continue,
            },
        };
        if net.internal {
            continue;
        }
        for p in e.ports.iter().filter(|p| p.host_ip.is_none_or(|ip| fam.holds(&ip))) {
            if p.host_port == 0 {
                return Err(Error::Invalid(format!("container {}: host port not chosen", e.container_id)));
            }
            if let Some((owner, _)) = taken.iter().find(|(_, q)| q.conflicts_with(p)) {
                conflicts.push(format!(
                    "{}:{}/{} of {} is held by {owner}",
                    p.host_ip_or_any(),
                    p.host_port,
                    p.proto.as_str(),
                    e.container_id
                ));
                continue;
            }
            taken.push((&e.container_id, p));
            let value = format!("{target} . {}", p.container_port);
            let (name, key) = match p.host_ip {
                None => (map_name(true, p.proto), p.host_port.to_string()),
                Some(ip) => (map_name(false, p.proto), format!("{ip} . {}", p.host_port)),
            };
            maps.get_mut(&name).expect("all maps exist").1.insert(key, value);
        }
    }
    for c in &conflicts {
        tracing::warn!(conflict = %c, "published port skipped");
    }
    Ok(Model { rules, maps, conflicts })
}

fn check_table_name(table: &str) -> Result<()> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && table.as_bytes()[0].is_ascii_alphabetic();
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("nft table name {table:?}")))
    }
}

fn schema_matches(st: &TableState, fam: Fam) -> bool {
    let chains_ok = CHAINS.iter().all(|c| match st.chains.get(c.name) {
        None => true,
        Some(ChainInfo { kind, hook, prio, policy }) => {
            kind.as_deref() == Some(c.kind)
                && hook.as_deref() == Some(c.hook)
                && *prio == Some(c.prio)
                && policy.as_deref().unwrap_or("accept") == "accept"
        }
    });
    let maps_ok = [true, false].iter().all(|&any| {
        [Proto::Tcp, Proto::Udp].iter().all(|&p| match st.maps.get(&map_name(any, p)) {
            None => true,
            Some(MapInfo { key_type, value_type, .. }) => {
                key_type == fam.key_type(any) && value_type.as_deref() == Some(fam.value_type())
            }
        })
    });
    chains_ok && maps_ok
}

/// Brings table `ip <table>` (and `ip6 <table>`) to `desired`, changing only what differs, in
/// one transaction. A second call with the same `desired` changes nothing.
pub fn reconcile(table: &str, desired: &Desired) -> Result<ReconcileReport> {
    check_table_name(table)?;
    // Read-diff-apply must not interleave with another reconcile of this process, or both would
    // add the same missing rule (the next reconcile would then remove the duplicate).
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = ReconcileReport::default();
    let mut batch = String::new();
    let m = model(desired, Fam::V4)?;
    report.conflicts = m.conflicts.clone();
    plan(table, Fam::V4, &m, read_table(table, Fam::V4.kw())?, &mut batch, &mut report);
    // The IPv6 table is read only while it may exist: a start on a host without IPv6 networks
    // costs no extra `nft` spawn.
    let wants_v6 = desired.networks.iter().any(|n| n.subnet6.is_some());
    if wants_v6 || v6_table_may_exist(table) {
        let current = read_table(table, Fam::V6.kw())?;
        if wants_v6 {
            let m6 = model(desired, Fam::V6)?;
            report.conflicts.extend(m6.conflicts.iter().cloned());
            plan(table, Fam::V6, &m6, current, &mut batch, &mut report);
        } else if current.is_some() {
            writeln!(batch, "delete table ip6 {table}").ok();
            report.objects_deleted += 1;
        }
    }
    if !batch.is_empty() {
        tracing::debug!(table, %batch, "nft transaction");
        run_with_stdin("nft", &["-f", "-"], Some(&batch))?;
    }
    set_v6_table_may_exist(table, wants_v6);
    Ok(report)
}

/// Tables whose `ip6` half this process knows to be absent (it removed it, or found none).
static NO_V6_TABLE: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

fn v6_table_may_exist(table: &str) -> bool {
    !NO_V6_TABLE.lock().unwrap_or_else(|p| p.into_inner()).contains(table)
}

fn set_v6_table_may_exist(table: &str, exists: bool) {
    let mut known = NO_V6_TABLE.lock().unwrap_or_else(|p| p.into_inner());
    match exists {
        true => known.remove(table),
        false => known.insert(table.to_string()),
    };
}

/// Appends to `batch` what brings one family's table from `current` to `m`.
fn plan(
    table: &str,
    fam: Fam,
    m: &Model,
    current: Option<TableState>,
    batch: &mut String,
    report: &mut ReconcileReport,
) {
    let f = fam.kw();
    let st = match current {
        None => {
            report.table_created = true;
            writeln!(batch, "add table {f} {table}").ok();
            TableState::default()
        }
        Some(st) if !schema_matches(&st, fam) => {
            tracing::warn!(table, family = f, "nft table has an unexpected shape: replacing it atomically");
            report.table_rebuilt = true;
            writeln!(batch, "delete table {f} {table}\nadd table {f} {table}").ok();
            TableState::default()
        }
        Some(st) => st,
    };

    // 1. Rules: keep one per wanted key, delete the rest by handle.
    let mut kept: BTreeSet<(String, String)> = BTreeSet::new();
    for r in &st.rules {
        let key = (r.chain.clone(), r.comment.clone().unwrap_or_default());
        if m.rules.contains_key(&key) && !kept.contains(&key) {
            kept.insert(key);
        } else {
            writeln!(batch, "delete rule {f} {table} {} handle {}", r.chain, r.handle).ok();
            report.rules_deleted += 1;
        }
    }
    // 2. Objects Berth does not define (rules referencing them are gone by now).
    for name in st.maps.keys().filter(|n| !m.maps.contains_key(*n)) {
        writeln!(batch, "delete set {f} {table} {name}").ok();
        report.objects_deleted += 1;
    }
    for name in st.chains.keys().filter(|n| !CHAINS.iter().any(|c| c.name == n.as_str())) {
        writeln!(batch, "delete chain {f} {table} {name}").ok();
        report.objects_deleted += 1;
    }
    // 3. Chains and maps that are missing (IPv6's guard chain stays empty: no `route_localnet`).
    for c in CHAINS.iter().filter(|c| !st.chains.contains_key(c.name)) {
        writeln!(
            batch,
            "add chain {f} {table} {} {{ type {} hook {} priority {}; policy accept; }}",
            c.name, c.kind, c.hook, c.prio
        )
        .ok();
    }
    for (name, (key_type, elems)) in &m.maps {
        let have = st.maps.get(name);
        if have.is_none() {
            writeln!(batch, "add map {f} {table} {name} {{ type {key_type} : {}; }}", fam.value_type()).ok();
        }
        // 4. Elements: delete extra or changed, add missing or changed.
        let empty = BTreeMap::new();
        let have_elems = have.map(|h| &h.elems).unwrap_or(&empty);
        let del: Vec<&String> = have_elems.iter().filter(|(k, v)| elems.get(*k) != Some(*v)).map(|(k, _)| k).collect();
        let add: Vec<String> =
            elems.iter().filter(|(k, v)| have_elems.get(*k) != Some(*v)).map(|(k, v)| format!("{k} : {v}")).collect();
        if !del.is_empty() {
            let keys: Vec<&str> = del.iter().map(|s| s.as_str()).collect();
            writeln!(batch, "delete element {f} {table} {name} {{ {} }}", keys.join(", ")).ok();
            report.elements_deleted += del.len();
        }
        if !add.is_empty() {
            writeln!(batch, "add element {f} {table} {name} {{ {} }}", add.join(", ")).ok();
            report.elements_added += add.len();
        }
    }
    // 5. Missing rules.
    for ((chain, comment), body) in &m.rules {
        if !kept.contains(&(chain.clone(), comment.clone())) {
            writeln!(batch, "add rule {f} {table} {chain} {body} comment \"{comment}\"").ok();
            report.rules_added += 1;
        }
    }
}

/// Deletes Berth's tables, both families (daemon uninstall, tests). Missing is fine.
pub fn remove_table(table: &str) -> Result<()> {
    check_table_name(table)?;
    for f in [Fam::V4, Fam::V6] {
        match run_with_stdin("nft", &["delete", "table", f.kw(), table], None) {
            Err(Error::Command { stderr, .. }) if stderr.contains("No such file or directory") => {}
            other => other.map(drop)?,
        }
    }
    set_v6_table_may_exist(table, false);
    Ok(())
}

/// A view of the table for diagnostics and tests: `(chain, handle, comment)` of every rule and
/// the elements of every map (`key` → `value`). `None` when the table does not exist.
pub fn snapshot(table: &str) -> Result<Option<Snapshot>> {
    snapshot_of(table, "ip")
}

/// [`snapshot`] of the `ip6` table.
pub fn snapshot_v6(table: &str) -> Result<Option<Snapshot>> {
    snapshot_of(table, "ip6")
}

fn snapshot_of(table: &str, family: &str) -> Result<Option<Snapshot>> {
    check_table_name(table)?;
    Ok(read_table(table, family)?.map(|st| Snapshot {
        rules: st.rules.into_iter().map(|r| (r.chain, r.handle, r.comment.unwrap_or_default())).collect(),
        maps: st.maps.into_iter().map(|(k, v)| (k, v.elems)).collect(),
    }))
}

/// See [`snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub rules: Vec<(String, u64, String)>,
    pub maps: BTreeMap<String, BTreeMap<String, String>>,
}
