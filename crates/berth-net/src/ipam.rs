//! Persistent IPv4 address management for one network.
//!
//! The allocations are the truth a restarted daemon needs to avoid handing a running container's
//! address to a new one, so every change is written (atomically, `write_json_atomic`) before the
//! call returns.

use crate::{io_err, Error, Ipv4Net, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct IpamFile {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    /// `--fixed-cidr` / `--ip-range`: automatic allocation stays inside it.
    #[serde(default)]
    range: Option<Ipv4Net>,
    /// container id → address
    allocations: BTreeMap<String, Ipv4Addr>,
    /// Never handed out (a network's `AuxiliaryAddresses`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    reserved: std::collections::BTreeSet<Ipv4Addr>,
}

/// The address pool of one network; `Send + Sync`, every method persists before returning.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    state: Mutex<IpamFile>,
}

impl Ipam {
    /// The file a network's IPAM state lives in: `<dir>/ipam-<network>.json`.
    pub fn file_path(dir: &Path, network: &str) -> PathBuf {
        dir.join(format!("ipam-{network}.json"))
    }

    /// Opens (or creates) the pool of `network` under `dir`.
    ///
    /// `subnet` is the network (e.g. `10.77.0.0/24`); `gateway` defaults to its first host address
    /// and is never handed out; `range` (`fixed-cidr`) restricts automatic allocation. An existing
    /// file keeps its allocations; one for another subnet is refused rather than silently reused.
    pub fn open(
        dir: &Path,
        network: &str,
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        range: Option<Ipv4Net>,
    ) -> Result<Ipam> {
        if network.is_empty() || network.contains('/') {
            return Err(Error::Invalid(format!("network name {network:?}")));
        }
        let subnet = subnet.trunc();
        if subnet.prefix_len() > 30 {
            return Err(Error::Invalid(format!("subnet {subnet} is too small")));
        }
        let gateway = gateway.unwrap_or_else(|| first_host(subnet));
        if !subnet.contains(&gateway) {
            return Err(Error::BadAddress { addr: gateway, subnet, why: "gateway outside the subnet" });
        }
        let range = range.map(|r| r.trunc());
        if let Some(r) = range {
            if !subnet.contains(&r) {
                return Err(Error::Invalid(format!("fixed-cidr {r} is not inside {subnet}")));
            }
        }
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let path = Self::file_path(dir, network);
        let state = match berth_proto::fsutil::read_json::<IpamFile>(&path)
            .map_err(io_err(format!("reading {}", path.display())))?
        {
            Some(f) => {
                if f.subnet != subnet {
                    return Err(Error::SubnetMismatch {
                        path: path.display().to_string(),
                        on_disk: f.subnet,
                        wanted: subnet,
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
    pub fn open_all(dir: &Path) -> Result<Vec<(String, Ipam)>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_prefix("ipam-").and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let path = ent.path();
            if let Some(f) = berth_proto::fsutil::read_json::<IpamFile>(&path)
                .map_err(io_err(format!("reading {}", path.display())))?
            {
                out.push((key.to_string(), Ipam { path, state: Mutex::new(f) }));
            }
        }
        Ok(out)
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.lock().subnet
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.lock().gateway
    }

    /// The gateway with the subnet's prefix, as the bridge carries it (`10.77.0.1/24`).
    pub fn gateway_cidr(&self) -> Ipv4Net {
        let s = self.lock();
        Ipv4Net::new(s.gateway, s.subnet.prefix_len()).expect("prefix came from an Ipv4Net")
    }

    /// Gives `container_id` an address: its existing one, `preferred` (`--ip`), or the lowest free
    /// one in the range. Asking again for the same container is idempotent.
    pub fn allocate(&self, container_id: &str, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
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
                    return Err(Error::AddressInUse { addr: p, owner: owner.clone() });
                }
                p
            }
            None => {
                let pool = s.range.unwrap_or(s.subnet);
                let used: HashSet<Ipv4Addr> = s.allocations.values().copied().collect();
                pool.hosts()
                    .find(|a| check_usable(&s, *a).is_ok() && !used.contains(a))
                    .ok_or(Error::PoolExhausted(pool))?
            }
        };
        let mut next = s.clone();
        next.allocations.insert(container_id.to_string(), addr);
        write(&self.path, &next)?;
        *s = next;
        Ok(addr)
    }

    /// Keeps `addrs` out of every allocation from now on (idempotent; persisted once changed).
    pub fn reserve(&self, addrs: &[Ipv4Addr]) -> Result<()> {
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
    pub fn release(&self, container_id: &str) -> Result<Option<Ipv4Addr>> {
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

    pub fn lookup(&self, container_id: &str) -> Option<Ipv4Addr> {
        self.lock().allocations.get(container_id).copied()
    }

    /// All allocations, container id → address.
    pub fn allocations(&self) -> BTreeMap<String, Ipv4Addr> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, IpamFile> {
        // A panic while holding the lock cannot leave the map half-written (we swap whole
        // values after the file write), so the poisoned value is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

fn check_usable(s: &IpamFile, a: Ipv4Addr) -> Result<()> {
    let bad = |why| Err(Error::BadAddress { addr: a, subnet: s.subnet, why });
    if !s.subnet.contains(&a) {
        return bad("not in the subnet");
    }
    if a == s.subnet.network() || a == s.subnet.broadcast() {
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

fn write(path: &Path, f: &IpamFile) -> Result<()> {
    berth_proto::fsutil::write_json_atomic(path, f).map_err(io_err(format!("writing {}", path.display())))
}
