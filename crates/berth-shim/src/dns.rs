//! Docker's embedded DNS, served by the monitor: what the answers are (names of the peers from the
//! daemon's names file, everything else forwarded), and the sockets at 127.0.0.11:53 made inside
//! the container's network namespace. The loop that drives them is `event_loop/dns.rs`.

use berth_proto::dns::{normalize, DnsAddr, DNS_ADDRESS};
use berth_proto::{fsutil, DnsNames, DnsSpec, MonitorRecord};
use simple_dns::rdata::{RData, A, AAAA, PTR};
use simple_dns::{Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, OPCODE, QTYPE, RCODE, TYPE};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Docker's TTL for the names it answers itself.
const TTL: u32 = 600;
/// How long a peer's liveness, read from its monitor's record, is believed.
const ALIVE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("opening the network namespace {path}: {source}")]
    Netns { path: PathBuf, source: std::io::Error },
    #[error("entering the network namespace {path}: {source}")]
    Setns { path: PathBuf, source: nix::Error },
    #[error("binding {DNS_ADDRESS}:53 ({what}): {source}")]
    Bind { what: &'static str, source: nix::Error },
    /// The one fatal case: the monitor would stay in the container's namespace.
    #[error("returning to the host's network namespace after binding the DNS sockets: {0}")]
    Return(nix::Error),
}

/// The listening sockets, bound inside the container's network namespace: the monitor (one
/// thread) enters it, makes them, and returns to its own at once; the sockets stay in the
/// container's namespace. Not a thread of its own: a second thread costs the monitor ~0.9 MiB
/// of resident memory for good (libc's thread code, ld.so's symbol lookup, a malloc arena).
pub fn bind_in(netns: &Path) -> Result<(UdpSocket, Option<TcpListener>), DnsError> {
    use nix::sched::{setns, CloneFlags};
    let open =
        |path: &Path| std::fs::File::open(path).map_err(|source| DnsError::Netns { path: path.to_path_buf(), source });
    let home = open(Path::new("/proc/self/ns/net"))?;
    let ns = open(netns)?;
    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|source| DnsError::Setns { path: netns.to_path_buf(), source })?;
    let udp = socket(false).map_err(|source| DnsError::Bind { what: "udp", source });
    // TCP is a nicety (answers too long for UDP): a container without it still resolves.
    let tcp = udp.is_ok().then(|| socket(true).map_err(|e| crate::diag!("DNS over TCP unavailable: {e}")).ok());
    // Back before anything else: the monitor's other sockets (forwarding) are the host's.
    setns(&home, CloneFlags::CLONE_NEWNET).map_err(DnsError::Return)?;
    Ok((UdpSocket::from(udp?), tcp.flatten().map(TcpListener::from)))
}

/// One non-blocking socket at 127.0.0.11:53. IP_FREEBIND: the namespace's loopback may not be
/// up yet when the monitor binds (it is before the container's process runs).
fn socket(stream: bool) -> nix::Result<OwnedFd> {
    use nix::sys::socket::{bind, listen, setsockopt, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
    let ty = if stream { SockType::Stream } else { SockType::Datagram };
    let fd = nix::sys::socket::socket(AddressFamily::Inet, ty, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    if stream {
        // A monitor replacing this one (a restart) binds again while old connections linger.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    let [a, b, c, d] = DNS_ADDRESS.octets();
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(a, b, c, d, 53))?;
    if stream {
        listen(&fd, Backlog::new(16)?)?;
    }
    Ok(fd)
}

/// Once the server listens, the container's resolv.conf names it, unless it was edited (the
/// daemon wrote `legacy` just before this start; a monitor that restarted finds `embedded`).
pub fn point_resolv_conf(spec: &DnsSpec) {
    match std::fs::read_to_string(&spec.resolv_conf) {
        // In place: the file is bind-mounted by inode into the container.
        Ok(now) if now == spec.legacy => {
            if let Err(e) = std::fs::write(&spec.resolv_conf, &spec.embedded) {
                crate::diag!("writing {}: {e}", spec.resolv_conf.display());
            }
        }
        Ok(_) => {}
        Err(e) => crate::diag!("reading {}: {e}", spec.resolv_conf.display()),
    }
}

/// The daemon's names file, read again whenever it is replaced, and the liveness of the peers
/// it names (their monitors' records), for the times no daemon is there to rewrite it.
pub struct Names {
    path: PathBuf,
    /// Where the monitors' state directories are (`<exec-root>/shims`).
    shims: PathBuf,
    /// Inode, size and mtime of the file read, and what it said.
    cached: Option<((u64, u64, i64, i64), DnsNames)>,
    alive: HashMap<String, (Instant, bool)>,
}

impl Names {
    pub fn new(path: PathBuf, shims: PathBuf) -> Self {
        Names { path, shims, cached: None, alive: HashMap::new() }
    }

    /// The names as the file says now (empty when it is missing or unreadable).
    fn current(&mut self) -> &DnsNames {
        let key = std::fs::metadata(&self.path).ok().map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
        if key.is_none() || self.cached.as_ref().map(|c| c.0) != key {
            let names = match fsutil::read_json::<DnsNames>(&self.path) {
                Ok(n) => n.unwrap_or_default(),
                Err(e) => {
                    crate::diag!("reading {}: {e}", self.path.display());
                    DnsNames::default()
                }
            };
            self.cached = Some((key.unwrap_or_default(), names));
        }
        &self.cached.as_ref().expect("just filled").1
    }

    pub fn upstreams(&mut self) -> Vec<IpAddr> {
        self.current().upstreams.clone()
    }

    /// Whether the container `id` still runs, by its monitor's record (pid + start time). No
    /// record: the daemon named it, and nothing says otherwise.
    fn is_alive(&mut self, id: &str) -> bool {
        if id.is_empty() {
            return true;
        }
        let now = Instant::now();
        if let Some((at, alive)) = self.alive.get(id) {
            if now.duration_since(*at) < ALIVE_FOR {
                return *alive;
            }
        }
        let rec = fsutil::read_json::<MonitorRecord>(&self.shims.join(id).join(berth_proto::paths::MONITOR_RECORD));
        let alive = match rec {
            Ok(Some(m)) => {
                berth_sys::ProcessIdentity { pid: m.container_pid, start_time: m.container_start_time }.is_alive()
            }
            _ => true,
        };
        if self.alive.len() > 256 {
            self.alive.clear();
        }
        self.alive.insert(id.to_string(), (now, alive));
        alive
    }

    /// The live addresses of `name` (normalized), or None when it is not a local name.
    fn addresses(&mut self, name: &str) -> Option<Vec<IpAddr>> {
        let list: Vec<DnsAddr> = self.current().lookup(name)?.to_vec();
        let live: Vec<IpAddr> = list.into_iter().filter(|a| self.is_alive(&a.id)).map(|a| a.ip).collect();
        (!live.is_empty()).then_some(live)
    }

    fn pointer(&mut self, ip: IpAddr) -> Option<String> {
        let p = self.current().reverse.get(&ip.to_string())?.clone();
        self.is_alive(&p.id).then_some(p.name)
    }
}

/// What to do with one query.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// The answer to send back.
    Reply(Vec<u8>),
    /// Not a local name: ask the upstream servers.
    Forward,
    /// Not a query one can answer (garbage, a response): dropped, as Docker's server does.
    Drop,
}

/// Answers `query` from the local names, or says it must be forwarded. `udp`: the answer must
/// fit the client's datagram size (512 bytes, or what its EDNS option says), else it is cut and
/// marked truncated, so the client asks again over TCP.
pub fn answer(query: &[u8], names: &mut Names, udp: bool) -> Verdict {
    let Ok(q) = Packet::parse(query) else { return Verdict::Drop };
    if q.has_flags(PacketFlag::RESPONSE) {
        return Verdict::Drop;
    }
    let Some(question) = q.questions.first() else { return Verdict::Drop };
    let limit = match udp {
        true => q.opt().map_or(512, |o| o.udp_packet_size.max(512) as usize),
        false => u16::MAX as usize,
    };
    let respond = |rcode, answers| reply(&q, question, rcode, answers, limit);
    if q.opcode() != OPCODE::StandardQuery {
        return respond(RCODE::NotImplemented, Vec::new());
    }
    let qname = question.qname.to_string();
    let name = normalize(&qname);
    let rr =
        |rdata: RData<'static>| ResourceRecord::new(Name::new_unchecked(&qname).into_owned(), CLASS::IN, TTL, rdata);
    match question.qtype {
        QTYPE::TYPE(TYPE::A) | QTYPE::TYPE(TYPE::AAAA) => {
            let Some(addrs) = names.addresses(&name) else { return Verdict::Forward };
            let v6 = question.qtype == QTYPE::TYPE(TYPE::AAAA);
            // A local name without an address of the asked family has no records, never an
            // outside answer (Docker's: the name is the network's).
            let answers = addrs
                .into_iter()
                .filter_map(|ip| match (ip, v6) {
                    (IpAddr::V4(a), false) => Some(rr(RData::A(A { address: a.into() }))),
                    (IpAddr::V6(a), true) => Some(rr(RData::AAAA(AAAA { address: a.into() }))),
                    _ => None,
                })
                .collect();
            respond(RCODE::NoError, answers)
        }
        QTYPE::TYPE(TYPE::PTR) => match reverse(&name).and_then(|ip| names.pointer(ip)) {
            Some(ptr) => {
                let target = format!("{ptr}.");
                let answers = vec![rr(RData::PTR(PTR(Name::new_unchecked(&target).into_owned())))];
                respond(RCODE::NoError, answers)
            }
            None => Verdict::Forward,
        },
        // Any other record of a local name: there is none.
        _ if names.addresses(&name).is_some() => respond(RCODE::NoError, Vec::new()),
        _ => Verdict::Forward,
    }
}

/// SERVFAIL for `query` (no upstream answered), or nothing when it cannot be parsed.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let question = q.questions.first()?;
    match reply(&q, question, RCODE::ServerFailure, Vec::new(), u16::MAX as usize) {
        Verdict::Reply(b) => Some(b),
        _ => None,
    }
}

fn reply(
    q: &Packet,
    question: &Question,
    rcode: RCODE,
    answers: Vec<ResourceRecord<'static>>,
    limit: usize,
) -> Verdict {
    let mut r = Packet::new_reply(q.id());
    r.set_flags(PacketFlag::RECURSION_AVAILABLE);
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        r.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    *r.rcode_mut() = rcode;
    r.questions.push(question.clone());
    r.answers = answers;
    loop {
        match r.build_bytes_vec_compressed() {
            Ok(b) if b.len() > limit && !r.answers.is_empty() => {
                r.answers.truncate(r.answers.len() / 2);
                r.set_flags(PacketFlag::TRUNCATION);
            }
            Ok(b) => return Verdict::Reply(b),
            Err(e) => {
                crate::diag!("building a DNS answer: {e}");
                return Verdict::Drop;
            }
        }
    }
}

/// `4.3.2.1.in-addr.arpa` → 1.2.3.4; `<32 nibbles, last first>.ip6.arpa` → the IPv6 address.
fn reverse(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut o: Vec<u8> = rest.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        if o.len() != 4 {
            return None;
        }
        o.reverse();
        return Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u32> = rest
        .split('.')
        .map(|p| (p.len() == 1).then(|| p.chars().next()?.to_digit(16)).flatten())
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let v = nibbles.iter().rev().fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(v.into()))
}

#[cfg(test)]
mod tests;
