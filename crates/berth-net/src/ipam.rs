//! Persistent address management for one network, IPv4 or IPv6 (one pool per family).
//!
//! The allocations are the truth a restarted daemon needs to avoid handing a running container's
//! address to a new one, so every change is written (atomically, `write_json_atomic`) before the
//! call returns.

use crate::{io_err, Error, Ipv4Net, Ipv6Net, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a pool needs of its subnet type: [`Ipv4Net`] or [`Ipv6Net`].
pub trait Family: Copy + Eq + Debug + Display + Serialize + DeserializeOwned + Send + 'static {
    type Addr: Copy + Eq + Ord + Hash + Debug + Display + Serialize + DeserializeOwned + Send + Into<IpAddr>;
    /// Pools of this family live in `<dir>/<FILE_PREFIX><network>.json`: IPv4 keeps the name
    /// older releases wrote, so their pools are found; IPv6 pools are new files they never read.
    const FILE_PREFIX: &'static str;
    const NAME: &'static str;
    /// The longest prefix worth a pool (room for a gateway and a container).
    const MAX_PREFIX: u8;
    fn trunc(&self) -> Self;
    fn prefix_len(&self) -> u8;
    fn network(&self) -> Self::Addr;
    fn contains_addr(&self, a: &Self::Addr) -> bool;
    fn contains_net(&self, n: &Self) -> bool;
    fn with_addr(a: Self::Addr, prefix_len: u8) -> Self;
    /// Addresses never handed out: IPv4's network and broadcast, IPv6's subnet-router anycast.
    fn is_edge(&self, a: &Self::Addr) -> bool;
    fn hosts_from(&self) -> Box<dyn Iterator<Item = Self::Addr>>;
    fn first_host(&self) -> Self::Addr {
        self.hosts_from().find(|a| !self.is_edge(a)).unwrap_or_else(|| self.network())
    }
}

/// The methods both subnet types have under the same names; what differs is given.
macro_rules! family {
    ($net:ty, $addr:ty, $prefix:literal, $name:literal, $max:literal, |$n:ident, $a:ident| $edge:expr) => {
        impl Family for $net {
            type Addr = $addr;
            const FILE_PREFIX: &'static str = $prefix;
            const NAME: &'static str = $name;
            const MAX_PREFIX: u8 = $max;
            fn trunc(&self) -> Self {
                <$net>::trunc(self)
            }
            fn prefix_len(&self) -> u8 {
                <$net>::prefix_len(self)
            }
            fn network(&self) -> $addr {
                <$net>::network(self)
            }
            fn contains_addr(&self, a: &$addr) -> bool {
                self.contains(a)
            }
            fn contains_net(&self, n: &Self) -> bool {
                self.contains(n)
            }
            fn with_addr(a: $addr, prefix_len: u8) -> Self {
                <$net>::new(a, prefix_len).expect("prefix length of an existing subnet")
            }
            fn is_edge(&self, a: &$addr) -> bool {
                let ($n, $a) = (self, a);
                $edge
            }
            // Lazy: a /64 is never walked further than its lowest free address.
            fn hosts_from(&self) -> Box<dyn Iterator<Item = $addr>> {
                Box::new(self.hosts())
            }
        }
    };
}

family!(Ipv4Net, Ipv4Addr, "ipam-", "IPv4", 30, |n, a| *a == n.network() || *a == n.broadcast());
family!(Ipv6Net, Ipv6Addr, "ipam6-", "IPv6", 126, |n, a| *a == n.network());

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(bound = "")]
struct IpamFile<N: Family> {
    subnet: N,
    gateway: N::Addr,
    /// `--fixed-cidr` / `--ip-range`: automatic allocation stays inside it.
    #[serde(default)]
    range: Option<N>,
    /// container id → address
    allocations: BTreeMap<String, N::Addr>,
    /// Never handed out (a network's `AuxiliaryAddresses`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    reserved: std::collections::BTreeSet<N::Addr>,
}

/// The address pool of one network; `Send + Sync`, every method persists before returning.
#[derive(Debug)]
pub struct Ipam<N: Family = Ipv4Net> {
    path: PathBuf,
    state: Mutex<IpamFile<N>>,
}

impl<N: Family> Ipam<N> {
    /// The file a network's IPAM state lives in: `<dir>/ipam-<network>.json` (`ipam6-` for IPv6).
    pub fn file_path(dir: &Path, network: &str) -> PathBuf {
        dir.join(format!("{}{network}.json", N::FILE_PREFIX))
    }

    /// Opens (or creates) the pool of `network` under `dir`.
    ///
    /// `subnet` is the network (e.g. `10.77.0.0/24`); `gateway` defaults to its first host address
    /// and is never handed out; `range` (`fixed-cidr`) restricts automatic allocation. An existing
    /// file keeps its allocations; one for another subnet is refused rather than silently reused.
    pub fn open(dir: &Path, network: &str, subnet: N, gateway: Option<N::Addr>, range: Option<N>) -> Result<Ipam<N>> {
        if network.is_empty() || network.contains('/') {
            return Err(Error::Invalid(format!("network name {network:?}")));
        }
        let subnet = subnet.trunc();
        if subnet.prefix_len() > N::MAX_PREFIX {
            return Err(Error::Invalid(format!("subnet {subnet} is too small")));
        }
        let gateway = gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains_addr(&gateway) {
            return Err(Error::BadAddress {
                addr: gateway.into(),
                subnet: subnet.to_string(),
                why: "gateway outside the subnet",
            });
        }
        let range = range.map(|r| r.trunc());
        if let Some(r) = range {
            if !subnet.contains_net(&r) {
                return Err(Error::Invalid(format!("fixed-cidr {r} is not inside {subnet}")));
            }
        }
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let path = Self::file_path(dir, network);
        let state = match berth_proto::fsutil::read_json::<IpamFile<N>>(&path)
            .map_err(io_err(format!("reading {}", path.display())))?
        {
            Some(f) => {
                if f.subnet != subnet {
                    return Err(Error::SubnetMismatch {
                        path: path.display().to_string(),
                        on_disk: f.subnet.to_string(),
                        wanted: subnet.to_string(),
                    });
                }
                f
            }
            None => {
                let f = IpamFile { subnet, gateway, range, allocations: BTreeMap::new(), reserved: Default::default() };
                write(&path, &f)?;
                f
            }
        };
        Ok(Ipam { path, state: Mutex::new(state) })
    }

    /// Every pool under `dir`, by network key (for a restore that frees what nobody records).
    pub fn open_all(dir: &Path) -> Result<Vec<(String, Ipam<N>)>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_prefix(N::FILE_PREFIX).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let path = ent.path();
            if let Some(f) = berth_proto::fsutil::read_json::<IpamFile<N>>(&path)
                .map_err(io_err(format!("reading {}", path.display())))?
            {
                out.push((key.to_string(), Ipam { path, state: Mutex::new(f) }));
            }
        }
        Ok(out)
    }

    pub fn subnet(&self) -> N {
        self.lock().subnet
    }

    pub fn gateway(&self) -> N::Addr {
        self.lock().gateway
    }

    /// The gateway with the subnet's prefix, as the bridge carries it (`10.77.0.1/24`).
    pub fn gateway_cidr(&self) -> N {
        let s = self.lock();
        N::with_addr(s.gateway, s.subnet.prefix_len())
    }

    /// Gives `container_id` an address: its existing one, `preferred` (`--ip`), or the lowest free
    /// one in the range. Asking again for the same container is idempotent.
    pub fn allocate(&self, container_id: &str, preferred: Option<N::Addr>) -> Result<N::Addr> {
        let mut s = self.lock();
        if let Some(&have) = s.allocations.get(container_id) {
            if preferred.is_none() || preferred == Some(have) {
                return Ok(have);
            }
        }
        let addr = match preferred {
            Some(p) => {
                check_usable(&s, p)?;
                if let Some((owner, _)) = s.allocations.iter().find(|(id, a)| **a == p && id.as_str() != container_id) {
                    return Err(Error::AddressInUse { addr: p.into(), owner: owner.clone() });
                }
                p
            }
            None => {
                let pool = s.range.unwrap_or(s.subnet);
                let used: HashSet<N::Addr> = s.allocations.values().copied().collect();
                pool.hosts_from()
                    .find(|a| check_usable(&s, *a).is_ok() && !used.contains(a))
                    .ok_or_else(|| Error::PoolExhausted { family: N::NAME, pool: pool.to_string() })?
            }
        };
        let mut next = s.clone();
        next.allocations.insert(container_id.to_string(), addr);
        write(&self.path, &next)?;
        *s = next;
        Ok(addr)
    }

    /// Keeps `addrs` out of every allocation from now on (idempotent; persisted once changed).
    pub fn reserve(&self, addrs: &[N::Addr]) -> Result<()> {
        let mut s = self.lock();
        if addrs.iter().all(|a| s.reserved.contains(a)) {
            return Ok(());
        }
        let mut next = s.clone();
        next.reserved.extend(addrs.iter().copied());
        write(&self.path, &next)?;
        *s = next;
        Ok(())
    }

    /// Frees the container's address (no-op when it has none); returns what it had.
    pub fn release(&self, container_id: &str) -> Result<Option<N::Addr>> {
        let mut s = self.lock();
        if !s.allocations.contains_key(container_id) {
            return Ok(None);
        }
        let mut next = s.clone();
        let old = next.allocations.remove(container_id);
        write(&self.path, &next)?;
        *s = next;
        Ok(old)
    }

    pub fn lookup(&self, container_id: &str) -> Option<N::Addr> {
        self.lock().allocations.get(container_id).copied()
    }

    /// All allocations, container id → address.
    pub fn allocations(&self) -> BTreeMap<String, N::Addr> {
        self.lock().allocations.clone()
    }

    /// Frees the addresses of containers not in `live` (removed while the daemon was down);
    /// returns the ids freed.
    pub fn reconcile<S: AsRef<str>>(&self, live: &[S]) -> Result<Vec<String>> {
        let live: HashSet<&str> = live.iter().map(|s| s.as_ref()).collect();
        let mut s = self.lock();
        let gone: Vec<String> = s.allocations.keys().filter(|id| !live.contains(id.as_str())).cloned().collect();
        if gone.is_empty() {
            return Ok(gone);
        }
        let mut next = s.clone();
        for id in &gone {
            next.allocations.remove(id);
        }
        write(&self.path, &next)?;
        *s = next;
        Ok(gone)
    }

    /// Deletes the state file (network removal).
    pub fn destroy(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err(format!("removing {}", self.path.display()))(e))
            }
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IpamFile<N>> {
        // A panic while holding the lock cannot leave the map half-written (we swap whole
        // values after the file write), so the poisoned value is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn check_usable<N: Family>(s: &IpamFile<N>, a: N::Addr) -> Result<()> {
    let bad = |why| Err(Error::BadAddress { addr: a.into(), subnet: s.subnet.to_string(), why });
    if !s.subnet.contains_addr(&a) {
        return bad("not in the subnet");
    }
    if s.subnet.is_edge(&a) {
        return bad("network or broadcast address");
    }
    if a == s.gateway {
        return bad("it is the gateway");
    }
    if s.reserved.contains(&a) {
        return bad("it is reserved (an auxiliary address of the network)");
    }
    Ok(())
}

fn write<N: Family>(path: &Path, f: &IpamFile<N>) -> Result<()> {
    berth_proto::fsutil::write_json_atomic(path, f).map_err(io_err(format!("writing {}", path.display())))
}
