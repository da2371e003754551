//! The embedded DNS server of a container on a user-defined network, as daemon and monitor share
//! it. The daemon writes a [`DnsNames`] file for the container wherever it rewrites the
//! container's /etc/hosts (a member starts, stops, connects, is renamed); the monitor answers from
//! it at 127.0.0.11:53 inside the container's network namespace, reading it again when it changed.
//! So the names keep resolving while the daemon is down.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// Version of the [`DnsNames`] format this build writes. A reader takes any version: fields it
/// does not know are ignored and fields it misses have defaults, so an older monitor and a newer
/// daemon (or the reverse) still agree on the names.
pub const DNS_NAMES_VERSION: u32 = 1;

/// Where Docker's embedded resolver listens, inside the container's network namespace.
pub const DNS_ADDRESS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);

/// What the monitor needs to serve DNS (`ShimConfig::dns`, capability `dns`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DnsSpec {
    /// The network namespace file of the container (`<exec-root>/netns/<id>`): the listening
    /// sockets are made inside it.
    pub netns: PathBuf,
    /// The [`DnsNames`] file the daemon keeps up to date.
    pub names: PathBuf,
    /// The container's resolv.conf on the host (bind-mounted at /etc/resolv.conf).
    pub resolv_conf: PathBuf,
    /// Its text as the daemon wrote it for a monitor without DNS (the host's or `--dns`
    /// servers). Replaced by `embedded` only while it still says this: an edit is kept.
    pub legacy: String,
    /// Its text once the embedded server listens (`nameserver 127.0.0.11`, `options ndots:0`).
    pub embedded: String,
}

/// One address a name resolves to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DnsAddr {
    pub ip: IpAddr,
    /// The container it belongs to (full id), so a monitor can drop the address of a peer whose
    /// process has ended while no daemon was there to rewrite the file. Empty: always answered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// The answer to a PTR query for one address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DnsPtr {
    /// `name.network`, lower case, no trailing dot.
    pub name: String,
    /// As [`DnsAddr::id`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// The names one container may resolve locally, and where everything else is forwarded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DnsNames {
    #[serde(default)]
    pub version: u32,
    /// Lower-case name without a trailing dot → its addresses: container names, network aliases,
    /// short ids and hostnames of the peers on the user networks it shares (also as
    /// `name.network`), and its links' aliases.
    #[serde(default)]
    pub names: BTreeMap<String, Vec<DnsAddr>>,
    /// Address (as text) → what a PTR query for it answers.
    #[serde(default)]
    pub reverse: BTreeMap<String, DnsPtr>,
    /// Servers to forward other queries to (port 53), from the host's namespace: `--dns`, else
    /// the host's resolv.conf.
    #[serde(default)]
    pub upstreams: Vec<IpAddr>,
}

impl DnsNames {
    pub fn new() -> Self {
        DnsNames { version: DNS_NAMES_VERSION, ..Default::default() }
    }

    /// Adds `name` (any case, trailing dot or not) for `ip`, once.
    pub fn add(&mut self, name: &str, ip: IpAddr, id: &str) {
        let key = normalize(name);
        if key.is_empty() {
            return;
        }
        let list = self.names.entry(key).or_default();
        if !list.iter().any(|a| a.ip == ip) {
            list.push(DnsAddr { ip, id: id.to_string() });
        }
    }

    /// The name a PTR query for `ip` answers; the first one given wins.
    pub fn add_reverse(&mut self, ip: IpAddr, name: &str, id: &str) {
        self.reverse.entry(ip.to_string()).or_insert_with(|| DnsPtr { name: normalize(name), id: id.to_string() });
    }

    /// The addresses of `name` (already [`normalize`]d).
    pub fn lookup(&self, name: &str) -> Option<&[DnsAddr]> {
        self.names.get(name).map(Vec::as_slice)
    }
}

/// How names are compared: lower case, no trailing dot (Docker's names are case-insensitive).
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_an_older_file_reads() {
        let mut n = DnsNames::new();
        n.add("Web.", "10.0.0.2".parse().unwrap(), "abc");
        n.add("web", "10.0.0.2".parse().unwrap(), "abc");
        n.add_reverse("10.0.0.2".parse().unwrap(), "Web.net", "abc");
        assert_eq!(n.lookup("web").unwrap().len(), 1);
        assert_eq!(n.reverse["10.0.0.2"].name, "web.net");
        let back: DnsNames = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
        // A file of a format without some fields, or with fields not known yet, still reads.
        let old: DnsNames = serde_json::from_str(r#"{"names":{"a":[{"ip":"10.0.0.3"}]},"later":1}"#).unwrap();
        assert_eq!(old.lookup("a").unwrap()[0].id, "");
        assert!(old.upstreams.is_empty());
    }
}
