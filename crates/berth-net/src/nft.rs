//! Berth's nftables table: outbound NAT, forwarding, published ports.
//!
//! The table (`ip <name>`, one per daemon) is Berth's alone; other tables are never read or
//! touched. Published ports are elements of four maps (`ports_{any,ip}_{tcp,udp}`) used by a
//! fixed set of DNAT rules, so starting or stopping a container changes map elements only.
//! Every rule carries a `berth:<key>` comment naming exactly what it does: reconcile keeps the
//! rules whose key is wanted, deletes the others by handle, and adds the missing ones, all in
//! one `nft -f -` transaction. Within each chain the rules are order-independent by
//! construction (the forward drops live in their own earlier base chain), so adding a rule at
//! the end is always right.

use crate::bridge::check_ifname;
use crate::cmd::run_with_stdin;
use crate::nft_state::{read_table, ChainInfo, MapInfo, TableState};
use crate::{Error, Ipv4Net, PortMapping, Proto, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

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
}

/// A running container's attachment and its published ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEndpoint {
    pub container_id: String,
    /// [`DesiredNetwork::name`]
    pub network: String,
    pub ip: Ipv4Addr,
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

fn map_name(any: bool, proto: Proto) -> String {
    format!("ports_{}_{}", if any { "any" } else { "ip" }, proto.as_str())
}

fn map_key_type(any: bool) -> &'static str {
    if any {
        "inet_service"
    } else {
        "ipv4_addr . inet_service"
    }
}

const MAP_VALUE_TYPE: &str = "ipv4_addr . inet_service";

/// The table as it should be: rules keyed by `(chain, comment)`, map contents.
struct Model {
    rules: BTreeMap<(String, String), String>,
    maps: BTreeMap<String, (String, BTreeMap<String, String>)>,
    conflicts: Vec<String>,
}

fn model(d: &Desired) -> Result<Model> {
    let mut rules = BTreeMap::new();
    let mut rule = |chain: &str, key: String, body: String| {
        rules.insert((chain.to_string(), format!("berth:{key}")), body);
    };
    for proto in [Proto::Tcp, Proto::Udp] {
        let p = proto.as_str();
        for (chain, tag) in [("prerouting", "pre"), ("output", "out")] {
            rule(
                chain,
                format!("dnat-{tag}-any-{p}"),
                format!("fib daddr type local dnat ip to {p} dport map @{}", map_name(true, proto)),
            );
            rule(
                chain,
                format!("dnat-{tag}-ip-{p}"),
                format!("fib daddr type local dnat ip to ip daddr . {p} dport map @{}", map_name(false, proto)),
            );
        }
    }
    let mut nets = BTreeMap::new();
    for n in &d.networks {
        check_ifname(&n.bridge)?;
        let (b, s) = (&n.bridge, n.subnet.trunc());
        nets.insert(n.name.as_str(), n);
        // Host → 127.0.0.1:published port is DNATed in `output`; its source must become the
        // bridge address or the container's reply would go to its own loopback.
        rule("postrouting", format!("localnet:{b}"), format!("ip saddr 127.0.0.0/8 oifname \"{b}\" masquerade"));
        // route_localnet=1 on the bridge would also let a container reach services the host
        // binds on 127.0.0.1 (CVE-2020-8558): nothing legitimate comes in from a bridge for 127/8.
        rule("guard", format!("localnet-guard:{b}"), format!("iifname \"{b}\" ip daddr 127.0.0.0/8 drop"));
        if n.internal {
            rule("forward_drop", format!("internal-out:{b}"), format!("iifname \"{b}\" oifname != \"{b}\" drop"));
            rule("forward_drop", format!("internal-in:{b}"), format!("oifname \"{b}\" iifname != \"{b}\" drop"));
            continue;
        }
        rule("postrouting", format!("masq:{b}:{s}"), format!("ip saddr {s} oifname != \"{b}\" masquerade"));
        // Hairpin: a container reaching a published port on the host's address, DNATed back
        // onto its own bridge, must see the reply come from the host, not from the peer.
        rule(
            "postrouting",
            format!("hairpin:{b}:{s}"),
            format!("ip saddr {s} oifname \"{b}\" ct status dnat masquerade"),
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
            maps.insert(map_name(any, proto), (map_key_type(any).to_string(), BTreeMap::new()));
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
        if net.internal {
            continue;
        }
        for p in &e.ports {
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
            let value = format!("{} . {}", e.ip, p.container_port);
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

fn schema_matches(st: &TableState) -> bool {
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
                key_type == map_key_type(any) && value_type.as_deref() == Some(MAP_VALUE_TYPE)
            }
        })
    });
    chains_ok && maps_ok
}

/// Brings table `ip <table>` to `desired`, changing only what differs, in one transaction.
/// A second call with the same `desired` changes nothing.
pub fn reconcile(table: &str, desired: &Desired) -> Result<ReconcileReport> {
    check_table_name(table)?;
    // Read-diff-apply must not interleave with another reconcile of this process, or both would
    // add the same missing rule (the next reconcile would then remove the duplicate).
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let m = model(desired)?;
    let mut report = ReconcileReport { conflicts: m.conflicts.clone(), ..Default::default() };
    let current = read_table(table)?;
    let mut batch = String::new();
    let st = match current {
        None => {
            report.table_created = true;
            writeln!(batch, "add table ip {table}").ok();
            TableState::default()
        }
        Some(st) if !schema_matches(&st) => {
            tracing::warn!(table, "nft table has an unexpected shape: replacing it atomically");
            report.table_rebuilt = true;
            writeln!(batch, "delete table ip {table}\nadd table ip {table}").ok();
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
            writeln!(batch, "delete rule ip {table} {} handle {}", r.chain, r.handle).ok();
            report.rules_deleted += 1;
        }
    }
    // 2. Objects Berth does not define (rules referencing them are gone by now).
    for name in st.maps.keys().filter(|n| !m.maps.contains_key(*n)) {
        writeln!(batch, "delete set ip {table} {name}").ok();
        report.objects_deleted += 1;
    }
    for name in st.chains.keys().filter(|n| !CHAINS.iter().any(|c| c.name == n.as_str())) {
        writeln!(batch, "delete chain ip {table} {name}").ok();
        report.objects_deleted += 1;
    }
    // 3. Chains and maps that are missing.
    for c in CHAINS.iter().filter(|c| !st.chains.contains_key(c.name)) {
        writeln!(
            batch,
            "add chain ip {table} {} {{ type {} hook {} priority {}; policy accept; }}",
            c.name, c.kind, c.hook, c.prio
        )
        .ok();
    }
    for (name, (key_type, elems)) in &m.maps {
        let have = st.maps.get(name);
        if have.is_none() {
            writeln!(batch, "add map ip {table} {name} {{ type {key_type} : {MAP_VALUE_TYPE}; }}").ok();
        }
        // 4. Elements: delete extra or changed, add missing or changed.
        let empty = BTreeMap::new();
        let have_elems = have.map(|h| &h.elems).unwrap_or(&empty);
        let del: Vec<&String> = have_elems.iter().filter(|(k, v)| elems.get(*k) != Some(*v)).map(|(k, _)| k).collect();
        let add: Vec<String> =
            elems.iter().filter(|(k, v)| have_elems.get(*k) != Some(*v)).map(|(k, v)| format!("{k} : {v}")).collect();
        if !del.is_empty() {
            let keys: Vec<&str> = del.iter().map(|s| s.as_str()).collect();
            writeln!(batch, "delete element ip {table} {name} {{ {} }}", keys.join(", ")).ok();
            report.elements_deleted += del.len();
        }
        if !add.is_empty() {
            writeln!(batch, "add element ip {table} {name} {{ {} }}", add.join(", ")).ok();
            report.elements_added += add.len();
        }
    }
    // 5. Missing rules.
    for ((chain, comment), body) in &m.rules {
        if !kept.contains(&(chain.clone(), comment.clone())) {
            writeln!(batch, "add rule ip {table} {chain} {body} comment \"{comment}\"").ok();
            report.rules_added += 1;
        }
    }

    if !batch.is_empty() {
        tracing::debug!(table, %batch, "nft transaction");
        run_with_stdin("nft", &["-f", "-"], Some(&batch))?;
    }
    Ok(report)
}

/// Deletes Berth's table (daemon uninstall, tests). Missing is fine.
pub fn remove_table(table: &str) -> Result<()> {
    check_table_name(table)?;
    match run_with_stdin("nft", &["delete", "table", "ip", table], None) {
        Err(Error::Command { stderr, .. }) if stderr.contains("No such file or directory") => Ok(()),
        other => other.map(drop),
    }
}

/// A view of the table for diagnostics and tests: `(chain, handle, comment)` of every rule and
/// the elements of every map (`key` → `value`). `None` when the table does not exist.
pub fn snapshot(table: &str) -> Result<Option<Snapshot>> {
    check_table_name(table)?;
    Ok(read_table(table)?.map(|st| Snapshot {
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
