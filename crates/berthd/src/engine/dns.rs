//! Docker's embedded DNS, the daemon's half. A container whose network is a user-defined one is
//! served at 127.0.0.11:53 by its own monitor (capability `dns`), never by the daemon: the daemon
//! only keeps its names file (`dns.json` beside its /etc/hosts, rewritten wherever /etc/hosts is)
//! and tells the monitor where things are (`ShimConfig::dns`). So names resolve while the daemon
//! is down. resolv.conf: the daemon writes the form without the embedded server (the host's or
//! `--dns` servers); the monitor points it at 127.0.0.11 once it listens, so a container whose
//! monitor does not serve DNS keeps a resolv.conf that works.

use crate::model::HostConfig;
use crate::model::{Container, NetEndpoint};
use berth_proto::{DnsNames, DnsSpec};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// `--dns`, `--dns-search`, `--dns-option`: each replaces the host's lines of its kind.
pub struct Resolver {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Resolver {
    pub fn of(h: &HostConfig) -> Resolver {
        Resolver {
            servers: h.dns.clone().unwrap_or_default(),
            search: h.dns_search.clone().unwrap_or_default(),
            options: h.dns_options.clone().unwrap_or_default(),
        }
    }
}

/// The host's resolver configuration, as containers are given it.
pub fn host_resolv_conf() -> String {
    std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
}

/// Whether the container's resolver is the embedded one: its network is a user-defined one (not
/// the default bridge, the host's, none, or another container's).
pub fn embedded(c: &Container) -> bool {
    let m = c.options.network_mode.as_str();
    !matches!(m, "bridge" | "host" | "none" | "default" | "") && !m.starts_with("container:") && c.endpoint.is_some()
}

fn kind(l: &str, k: &str) -> bool {
    l.split_whitespace().next() == Some(k)
}

/// resolv.conf naming the host's (or `--dns`) servers: the default bridge's, and what a user
/// network's container has until its monitor serves DNS.
pub fn resolv_conf(host: &str, net: &str, dns: &Resolver) -> String {
    let mut out: Vec<String> = host
        .lines()
        .filter(|l| dns.servers.is_empty() || !kind(l, "nameserver"))
        .filter(|l| dns.search.is_empty() || !(kind(l, "search") || kind(l, "domain")))
        .filter(|l| dns.options.is_empty() || !kind(l, "options"))
        // Loopback resolvers of the host are unreachable from a private network namespace.
        .filter(|l| net == "host" || !(kind(l, "nameserver") && (l.contains("127.") || l.contains("::1"))))
        .map(str::to_string)
        .collect();
    out.extend(dns.servers.iter().map(|s| format!("nameserver {s}")));
    push_search_and_options(&mut out, dns, false);
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// `--dns-search .` means no search domain at all (Docker); `ndots:0` is added for the embedded
/// server unless an ndots option is given (Docker's `options ndots:0`).
fn push_search_and_options(out: &mut Vec<String>, dns: &Resolver, embedded: bool) {
    let search: Vec<&str> = dns.search.iter().map(String::as_str).filter(|s| *s != ".").collect();
    if !search.is_empty() {
        out.push(format!("search {}", search.join(" ")));
    }
    if !dns.options.is_empty() {
        out.push(format!("options {}", dns.options.join(" ")));
    }
    if embedded && !out.iter().any(|l| kind(l, "options") && l.contains("ndots:")) {
        out.push("options ndots:0".to_string());
    }
}

/// resolv.conf once the embedded server listens: only 127.0.0.11, with the host's (or the
/// user's) search domains and options; the servers it forwards to are in the names file.
pub fn embedded_resolv_conf(host: &str, dns: &Resolver) -> String {
    let mut out = vec![format!("nameserver {}", berth_proto::dns::DNS_ADDRESS)];
    out.extend(
        host.lines()
            .filter(|l| dns.search.is_empty() && (kind(l, "search") || kind(l, "domain")))
            .chain(host.lines().filter(|l| dns.options.is_empty() && kind(l, "options")))
            .map(str::to_string),
    );
    push_search_and_options(&mut out, dns, true);
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// Where the embedded server forwards: `--dns`, else the host's servers (loopback ones too: the
/// monitor forwards from the host's namespace, as Docker does).
pub fn upstreams(host: &str, dns: &Resolver) -> Vec<IpAddr> {
    let listed: Vec<&str> = match dns.servers.is_empty() {
        true => host.lines().filter(|l| kind(l, "nameserver")).filter_map(|l| l.split_whitespace().nth(1)).collect(),
        false => dns.servers.iter().map(String::as_str).collect(),
    };
    // An IPv6 server may carry a zone (`fe80::1%eth0`), which a bare address cannot hold.
    listed.iter().filter_map(|s| s.parse().ok()).collect()
}

pub fn names_path(c: &Container) -> PathBuf {
    c.hosts_path.with_file_name(berth_proto::paths::DNS_NAMES)
}

/// What the monitor is told at a start. The resolv.conf is written in the form without the
/// embedded server (in place: it is bind-mounted by inode), which the monitor replaces once it
/// listens; a monitor without DNS leaves it so.
pub fn spec(c: &Container, netns: Option<&Path>) -> Option<DnsSpec> {
    let netns = netns.filter(|_| embedded(c))?;
    let host = host_resolv_conf();
    let dns = Resolver::of(&c.host_config);
    let legacy = resolv_conf(&host, &c.options.network_mode, &dns);
    if let Err(e) = std::fs::write(&c.resolv_conf_path, &legacy) {
        tracing::warn!(id = %c.short_id(), "writing resolv.conf: {e}");
        return None;
    }
    Some(DnsSpec {
        netns: netns.to_path_buf(),
        names: names_path(c),
        resolv_conf: c.resolv_conf_path.clone(),
        legacy,
        embedded: embedded_resolv_conf(&host, &dns),
    })
}

/// The names `c` resolves: itself and every running peer on each user network it shares, by
/// name, aliases and short id (also as `name.network`), and its links' aliases.
pub fn names(c: &Container, live: &[Container], host: &str) -> DnsNames {
    let mut n = DnsNames::new();
    let add = |n: &mut DnsNames, p: &Container, ep: &NetEndpoint| {
        let id = if p.id == c.id { "" } else { p.id.as_str() };
        for ip in addresses(ep) {
            // Docker's: the name, the aliases, the short id (the default hostname); not a
            // hostname of the user's choosing, which only the container's own /etc/hosts knows.
            for name in &crate::engine::network::names_on(p, ep) {
                n.add(name, ip, id);
                n.add(&format!("{name}.{}", ep.network), ip, id);
            }
            n.add_reverse(ip, &format!("{}.{}", p.name, ep.network), id);
        }
    };
    for ep in c.endpoints().filter(|ep| ep.network != "bridge") {
        add(&mut n, c, ep);
        for p in live.iter().filter(|p| p.id != c.id) {
            if let Some(pep) = p.endpoint_on(&ep.network) {
                add(&mut n, p, pep);
            }
        }
    }
    for (alias, ep, id) in crate::engine::links::on_user_networks(c, live) {
        for ip in addresses(&ep) {
            n.add(&alias, ip, &id);
        }
    }
    n.upstreams = upstreams(host, &Resolver::of(&c.host_config));
    n
}

/// The endpoint's addresses: IPv4, and IPv6 on a dual-stack network.
fn addresses(ep: &NetEndpoint) -> impl Iterator<Item = IpAddr> {
    std::iter::once(IpAddr::V4(ep.ip)).chain(ep.v6.as_ref().map(|v| IpAddr::V6(v.ip)))
}

/// Replaces the container's names file (rename: the monitor never reads half of one).
pub fn write_names(c: &Container, names: &DnsNames) {
    if let Err(e) = berth_proto::fsutil::write_json_runtime(&names_path(c), names) {
        tracing::warn!(id = %c.short_id(), "writing the DNS names: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_resolv_conf_names_only_the_embedded_server() {
        let host = "nameserver 10.1.1.1\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\n";
        let none = Resolver { servers: vec![], search: vec![], options: vec![] };
        assert_eq!(
            embedded_resolv_conf(host, &none),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0\noptions ndots:0\n"
        );
        assert_eq!(upstreams(host, &none), vec!["10.1.1.1".parse::<IpAddr>().unwrap(), "127.0.0.53".parse().unwrap()]);
        let user =
            Resolver { servers: vec!["10.9.9.9".into()], search: vec![".".into()], options: vec!["ndots:2".into()] };
        assert_eq!(embedded_resolv_conf(host, &user), "nameserver 127.0.0.11\noptions ndots:2\n");
        assert_eq!(upstreams(host, &user), vec!["10.9.9.9".parse::<IpAddr>().unwrap()]);
        // The default bridge's form drops the host's loopback servers, as before.
        assert_eq!(resolv_conf(host, "bridge", &none), "nameserver 10.1.1.1\nsearch corp.example\noptions edns0\n");
    }
}
