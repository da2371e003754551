//! The API sockets: what `-H`/`"hosts"` name, with the group and mode each socket gets, and
//! the role it serves (enforced by `api::roles`).
//!
//! Docker's host strings keep Docker's meaning: `unix:///path` is a full-access socket at that
//! exact path (Docker takes everything after `unix://` as the path, a `?` included). A socket
//! with a role, or with a group or mode of its own, is written with a scheme Docker refuses, so
//! no string Docker accepts changes meaning:
//!
//! `berth+unix:///run/berth/ro.sock?role=read-only&group=monitoring&mode=0660`
//!
//! Each socket is `root:<group> 0660` by default, the group being `-G/--group`/`"group"`,
//! `berth` when unset and that group exists, root otherwise (Docker's rule with its `docker`
//! group). A group named explicitly that does not exist stops the start, naming it.
//!
//! `fd://` serves the sockets a service manager passed (systemd's socket activation): all of
//! them, or `fd://<name>` the one its `FileDescriptorName=` (LISTEN_FDNAMES) names; a number,
//! `fd://3`, is Docker's meaning, that fd. They get the full role, as Docker's; a passed socket
//! with a role is `berth+fd://<name>?role=read-only`. Group and mode are the socket unit's
//! (`SocketGroup=`, `SocketMode=`): the daemon neither changes them nor removes the file, which
//! systemd keeps open across a restart of the daemon so that no connection is refused.
//!
//! `tcp://<addr>:<port>` is Docker's remote API, served only over mutual TLS (`--tlsverify`,
//! `config::tls`, `tls`): a missing port is 2376, a missing address 127.0.0.1, as dockerd's. It
//! gets the full role; `berth+tcp://<addr>:<port>?role=read-only` one of its own.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const DEFAULT_GROUP: &str = "berth";
const EXTENDED: &str = "berth+unix://";
const EXTENDED_FD: &str = "berth+fd://";
const EXTENDED_TCP: &str = "berth+tcp://";

/// Which passed sockets an `fd://` host serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// `fd://` (or Docker's `fd://*`): every socket passed.
    All,
    /// `fd://3`: Docker's meaning, the fd of that number.
    Number(i32),
    /// `fd://<name>`: the socket LISTEN_FDNAMES names so.
    Name(String),
}

/// One API socket, as its host string describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    /// The host string as given.
    pub text: String,
    pub path: PathBuf,
    pub role: Role,
    /// `group=`: this socket's own group, over `--group`.
    pub group: Option<String>,
    /// `mode=`: this socket's own mode, over 0660.
    pub mode: Option<u32>,
    /// Set for `fd://` hosts: the socket is passed, not bound. Until [`adopt_passed`] runs, `path`
    /// is empty; after, it is the passed socket's own address.
    pub passed: Option<Passed>,
    /// Set for `tcp://` hosts (then `path` is empty): the address to bind.
    pub tcp: Option<std::net::SocketAddr>,
}

impl HostSpec {
    pub fn mode(&self) -> u32 {
        self.mode.unwrap_or(0o660)
    }

    /// The socket's address, for messages: its path, or `tcp://addr:port`.
    pub fn describe(&self) -> String {
        self.tcp.map_or_else(|| self.path.display().to_string(), |a| format!("tcp://{a}"))
    }
}

/// Parses every host, refusing one that names a socket another already names.
pub fn parse_hosts(hosts: &[String]) -> Result<Vec<HostSpec>, String> {
    let mut out: Vec<HostSpec> = Vec::new();
    for h in hosts {
        let spec = parse_host(h)?;
        let same = |o: &HostSpec| match (&o.passed, &spec.passed) {
            (None, None) => o.path == spec.path,
            (Some(a), Some(b)) => a == b || *a == Passed::All || *b == Passed::All,
            _ => false,
        };
        // 0.0.0.0:2376 takes 127.0.0.1:2376 too.
        let same = |o: &HostSpec| match (o.tcp, spec.tcp) {
            (Some(a), Some(b)) => {
                a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
            }
            _ => same(o),
        };
        if let Some(other) = out.iter().find(|o| same(o)) {
            return Err(format!("hosts \"{}\" and \"{h}\" name the same socket {}", other.text, spec.describe()));
        }
        out.push(spec);
    }
    Ok(out)
}

pub fn parse_host(h: &str) -> Result<HostSpec, String> {
    let plain = |path: &str| HostSpec {
        text: h.to_string(),
        path: PathBuf::from(if path.is_empty() { "/run/berth/berth.sock" } else { path }),
        role: Role::Full,
        group: None,
        mode: None,
        passed: None,
        tcp: None,
    };
    if let Some(addr) = h.strip_prefix("tcp://") {
        return tcp_host(h, addr, "");
    }
    if let Some(rest) = h.strip_prefix(EXTENDED_TCP) {
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        return tcp_host(h, addr, query);
    }
    if let Some(sel) = h.strip_prefix("fd://") {
        return passed_host(h, sel, "");
    }
    if let Some(rest) = h.strip_prefix(EXTENDED_FD) {
        let (sel, query) = rest.split_once('?').unwrap_or((rest, ""));
        return passed_host(h, sel, query);
    }
    if let Some(path) = h.strip_prefix("unix://") {
        return Ok(plain(path));
    }
    if h.starts_with('/') {
        return Ok(plain(h));
    }
    let Some(rest) = h.strip_prefix(EXTENDED) else {
        return Err(format!("unsupported host '{h}': berthd listens on unix://, berth+unix://, fd:// and tcp:// (with --tlsverify) hosts"));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !path.starts_with('/') {
        return Err(format!("invalid host '{h}': {EXTENDED} needs an absolute socket path"));
    }
    let mut spec = plain(path);
    for (key, value) in query_pairs(h, query)? {
        match key {
            "role" => spec.role = Role::parse(value).map_err(|e| format!("invalid host '{h}': {e}"))?,
            "group" if !value.is_empty() => spec.group = Some(value.to_string()),
            "group" => return Err(format!("invalid host '{h}': empty group")),
            "mode" => {
                spec.mode = Some(parse_mode(value).ok_or_else(|| {
                    format!("invalid host '{h}': mode \"{value}\" is not an octal mode from 000 to 0777")
                })?)
            }
            other => return Err(format!("invalid host '{h}': unknown option \"{other}\" (known: role, group, mode)")),
        }
    }
    // Connecting takes write permission on the socket.
    if spec.role == Role::Full && spec.mode() & 0o002 != 0 {
        return Err(format!(
            "invalid host '{h}': mode {:04o} would let every local user drive the engine as root; give such a socket a role (role=read-only) or drop the others' write bit",
            spec.mode()
        ));
    }
    Ok(spec)
}

/// An `fd://` or `berth+fd://` host: the selection, and `role=` as the only option.
fn passed_host(h: &str, sel: &str, query: &str) -> Result<HostSpec, String> {
    let passed = match sel {
        "" | "*" => Passed::All,
        n if n.bytes().all(|b| b.is_ascii_digit()) => {
            Passed::Number(n.parse().map_err(|_| format!("invalid host '{h}': fd number {n} out of range"))?)
        }
        name => Passed::Name(name.to_string()),
    };
    let mut spec = HostSpec {
        text: h.to_string(),
        path: PathBuf::new(),
        role: Role::Full,
        group: None,
        mode: None,
        passed: Some(passed),
        tcp: None,
    };
    for (key, value) in query_pairs(h, query)? {
        match key {
            "role" => spec.role = Role::parse(value).map_err(|e| format!("invalid host '{h}': {e}"))?,
            "group" | "mode" => {
                return Err(format!(
                    "invalid host '{h}': a passed socket's {key} is the socket unit's (SocketGroup=, SocketMode=), not the daemon's"
                ))
            }
            other => return Err(format!("invalid host '{h}': unknown option \"{other}\" (known for fd sockets: role)")),
        }
    }
    Ok(spec)
}

/// A `tcp://` or `berth+tcp://` host: `addr:port` (a name is resolved now), `role=` its only
/// option.
fn tcp_host(h: &str, addr: &str, query: &str) -> Result<HostSpec, String> {
    use std::net::ToSocketAddrs;
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    if addr.contains('/') {
        return Err(format!("invalid host '{h}': a tcp:// host has no path"));
    }
    // `[v6]:port`, `host:port`, `host`, `:port`; a bare IPv6 address needs its brackets.
    let (host, port) = match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, port),
        _ if addr.contains(':') && !addr.starts_with('[') => {
            return Err(format!("invalid host '{h}': write an IPv6 address in brackets, tcp://[::1]:2376"))
        }
        _ => (addr, ""),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let port: u16 = match port {
        "" => 2376,
        p => p.parse().map_err(|_| format!("invalid host '{h}': port \"{p}\" is not a number from 0 to 65535"))?,
    };
    let resolved = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("invalid host '{h}': cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("invalid host '{h}': {host} resolves to no address"))?;
    let mut spec = HostSpec {
        text: h.to_string(),
        path: PathBuf::new(),
        role: Role::Full,
        group: None,
        mode: None,
        passed: None,
        tcp: Some(resolved),
    };
    for (key, value) in query_pairs(h, query)? {
        match key {
            "role" => spec.role = Role::parse(value).map_err(|e| format!("invalid host '{h}': {e}"))?,
            other => return Err(format!("invalid host '{h}': unknown option \"{other}\" (known for tcp hosts: role)")),
        }
    }
    Ok(spec)
}

/// A host's `?key=value&…` options, each key at most once.
fn query_pairs<'q>(h: &str, query: &'q str) -> Result<Vec<(&'q str, &'q str)>, String> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("invalid host '{h}': \"{pair}\" is not key=value"));
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(format!("invalid host '{h}': \"{key}\" given twice"));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn parse_mode(s: &str) -> Option<u32> {
    let ok = (3..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let m = u32::from_str_radix(s, 8).ok().filter(|_| ok)?;
    (m <= 0o777).then_some(m)
}

/// The gid a socket's group names: None for root's group. A group given explicitly must exist
/// (a number is taken as a gid, as Docker does); the default one may be missing.
pub fn resolve_group(name: &str, explicit: bool) -> Result<Option<u32>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => return Ok(Some(g.gid.as_raw())),
        Ok(None) => {}
        Err(e) => return Err(format!("looking up group {name}: {e}")),
    }
    if let Ok(gid) = name.parse::<u32>() {
        if !matches!(nix::unistd::Group::from_gid(gid.into()), Ok(Some(_))) {
            tracing::warn!("no group with gid {gid} in the group database: the API socket gets it anyway");
        }
        return Ok(Some(gid));
    }
    if explicit {
        return Err(format!(
            "group {name} not found: it is the group of the API socket (--group, \"group\" in daemon.json, or group= in a host)"
        ));
    }
    tracing::info!(
        "group {name} not found: the API sockets are root:root (create the group to let its members use the API)"
    );
    Ok(None)
}

/// The gid of each socket's group, in order: resolved before anything is created, so a group
/// that does not exist stops the start with nothing touched.
pub fn resolve_groups(specs: &[HostSpec], group: Option<&str>) -> Result<Vec<Option<u32>>, String> {
    let default = match specs.iter().any(|s| s.group.is_none() && s.passed.is_none()) {
        true => resolve_group(group.unwrap_or(DEFAULT_GROUP), group.is_some())?,
        false => None,
    };
    specs.iter().map(|s| s.group.as_deref().map_or(Ok(default), |g| resolve_group(g, true))).collect()
}

/// Gives each `fd://` host the passed sockets it selects, each with its own address as `path`;
/// other hosts are kept as they are (with no fd). A host that selects nothing stops the start,
/// naming it; a passed socket no host selects is closed with a warning.
pub fn adopt_passed(
    specs: &[HostSpec],
    passed: Vec<(OwnedFd, String)>,
) -> Result<Vec<(HostSpec, Option<OwnedFd>)>, String> {
    let described: Vec<String> = passed.iter().map(|(fd, name)| format!("{name} (fd {})", fd.as_raw_fd())).collect();
    let mut left: Vec<Option<(OwnedFd, String)>> = passed.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for s in specs {
        let Some(sel) = &s.passed else {
            out.push((s.clone(), None));
            continue;
        };
        let picked: Vec<usize> = (0..left.len())
            .filter(|&i| {
                left[i].as_ref().is_some_and(|(fd, name)| match sel {
                    Passed::All => true,
                    Passed::Number(n) => fd.as_raw_fd() == *n,
                    Passed::Name(want) => name == want,
                })
            })
            .collect();
        if picked.is_empty() {
            return Err(if described.is_empty() {
                format!(
                    "host '{}': no socket was passed to berthd (LISTEN_FDS and LISTEN_PID are unset, or meant for another process); fd:// hosts are for a start by systemd socket activation (berth.socket)",
                    s.text
                )
            } else {
                format!("host '{}': no passed socket matches it (passed: {})", s.text, described.join(", "))
            });
        }
        for i in picked {
            let (fd, name) = left[i].take().expect("picked sockets are left");
            let path = passed_socket_path(&fd).map_err(|e| format!("host '{}': passed socket {name}: {e}", s.text))?;
            out.push((HostSpec { path, ..s.clone() }, Some(fd)));
        }
    }
    for (fd, name) in left.into_iter().flatten() {
        tracing::warn!("closing the passed socket {name} (fd {}): no host (-H fd://) serves it", fd.as_raw_fd());
    }
    for (i, (a, _)) in out.iter().enumerate() {
        if let Some((b, _)) = out[..i].iter().find(|(b, _)| a.tcp.is_none() && b.tcp.is_none() && b.path == a.path) {
            return Err(format!("hosts \"{}\" and \"{}\" name the same socket {}", b.text, a.text, a.path.display()));
        }
    }
    Ok(out)
}

/// The address of a passed socket, once it is known to be a listening unix stream socket (the
/// API is HTTP on unix sockets only). An abstract or unnamed one is shown as `@name`/`fd://N`.
fn passed_socket_path(fd: &OwnedFd) -> Result<PathBuf, String> {
    use nix::sys::socket::{getsockname, getsockopt, sockopt, SockType, SockaddrLike, SockaddrStorage};
    let addr = getsockname::<SockaddrStorage>(fd.as_raw_fd()).map_err(|e| format!("getsockname: {e}"))?;
    let Some(unix) = addr.as_unix_addr() else {
        return Err(format!("not a unix socket (address family {:?}): berthd serves unix sockets only", addr.family()));
    };
    if getsockopt(fd, sockopt::SockType).map_err(|e| format!("SO_TYPE: {e}"))? != SockType::Stream {
        return Err("not a stream socket (the socket unit needs ListenStream=)".into());
    }
    if !getsockopt(fd, sockopt::AcceptConn).map_err(|e| format!("SO_ACCEPTCONN: {e}"))? {
        return Err("not listening".into());
    }
    Ok(match (unix.path(), unix.as_abstract()) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(name)) => PathBuf::from(format!("@{}", String::from_utf8_lossy(name))),
        (None, None) => PathBuf::from(format!("fd://{}", fd.as_raw_fd())),
    })
}

/// A bound API socket.
pub enum Bound {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// Binds every socket with its group and mode, refusing one that a live daemon answers on; a
/// passed socket is served as it is.
pub fn bind_all(specs: Vec<(HostSpec, Option<OwnedFd>)>, gids: &[Option<u32>]) -> io::Result<Vec<(HostSpec, Bound)>> {
    specs
        .into_iter()
        .zip(gids)
        .map(|((s, fd), gid)| {
            let l = match (fd, s.tcp) {
                (Some(fd), _) => {
                    let l = std::os::unix::net::UnixListener::from(fd);
                    l.set_nonblocking(true)?;
                    Bound::Unix(tokio::net::UnixListener::from_std(l)?)
                }
                (None, Some(addr)) => {
                    let l = std::net::TcpListener::bind(addr)
                        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", s.text)))?;
                    l.set_nonblocking(true)?;
                    Bound::Tcp(tokio::net::TcpListener::from_std(l)?)
                }
                (None, None) => Bound::Unix(bind(&s.path, *gid, s.mode())?),
            };
            Ok((s, l))
        })
        .collect()
}

fn bind(path: &Path, gid: Option<u32>, mode: u32) -> io::Result<tokio::net::UnixListener> {
    let ctx = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    if path.symlink_metadata().is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another daemon is already serving {}", path.display()),
            ));
        }
        std::fs::remove_file(path).map_err(ctx(format!("removing the stale socket {}", path.display())))?;
    }
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    // The daemon's umask (022) makes the socket 0755 at bind: no one but root can connect
    // (connecting takes write permission) until the group and mode below are in place.
    let l = tokio::net::UnixListener::bind(path).map_err(ctx(format!("cannot listen on {}", path.display())))?;
    std::os::unix::fs::chown(path, None, gid.or(Some(0))).map_err(ctx(format!("chown {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(l)
}

/// Which routes a socket serves (`api::roles` enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every route (the default, and Docker's only kind of socket).
    Full,
    /// What observes the engine: lists, inspects, logs, events, stats. Nothing that changes
    /// state, hands out a process (exec, attach) or a file system (cp, export, save).
    ReadOnly,
}

impl Role {
    pub const NAMES: [&'static str; 2] = ["full", "read-only"];

    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "full" => Ok(Role::Full),
            "read-only" => Ok(Role::ReadOnly),
            other => Err(format!("unknown role \"{other}\" (known roles: {})", Role::NAMES.join(", "))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Full => "full",
            Role::ReadOnly => "read-only",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_host_strings_keep_their_meaning() {
        let s = parse_host("unix:///run/x.sock?role=read-only").unwrap();
        assert_eq!(
            (s.path.to_str().unwrap(), s.role),
            ("/run/x.sock?role=read-only", Role::Full),
            "Docker's literal path"
        );
        assert_eq!(parse_host("unix://").unwrap().path, PathBuf::from("/run/berth/berth.sock"));
        assert!(parse_host("udp://0.0.0.0:2375").unwrap_err().contains("tcp://"));
    }

    #[test]
    fn extended_hosts_carry_role_group_and_mode() {
        let s = parse_host("berth+unix:///run/berth/ro.sock?role=read-only&group=mon&mode=0640").unwrap();
        assert_eq!(s.path, PathBuf::from("/run/berth/ro.sock"));
        assert_eq!((s.role, s.group.as_deref(), s.mode()), (Role::ReadOnly, Some("mon"), 0o640));
        let s = parse_host("berth+unix:///run/a.sock").unwrap();
        assert_eq!((s.role, s.group.as_deref(), s.mode()), (Role::Full, None, 0o660));
        let s = parse_host("berth+unix:///run/ro.sock?role=read-only&mode=666").unwrap();
        assert_eq!(s.mode(), 0o666, "a read-only socket may be everyone's");
    }

    #[test]
    fn bad_extended_hosts_are_refused_by_name() {
        let err = |h: &str| parse_host(h).unwrap_err();
        assert!(err("berth+unix:///r.sock?role=admin").contains("unknown role \"admin\""));
        assert!(err("berth+unix:///r.sock?colour=red").contains("unknown option \"colour\""));
        assert!(err("berth+unix:///r.sock?role=read-only&role=full").contains("\"role\" given twice"));
        assert!(err("berth+unix:///r.sock?mode=0888").contains("mode \"0888\""));
        assert!(err("berth+unix:///r.sock?mode=04660").contains("mode \"04660\""));
        assert!(err("berth+unix:///r.sock?mode=0666").contains("every local user"));
        assert!(err("berth+unix://r.sock").contains("absolute"));
        assert!(err("berth+unix:///r.sock?group=").contains("empty group"));
        let dup = parse_hosts(&["unix:///a.sock".into(), "berth+unix:///a.sock?role=read-only".into()]).unwrap_err();
        assert!(dup.contains("same socket"), "{dup}");
    }

    #[test]
    fn tcp_hosts_take_dockers_defaults() {
        let addr = |h: &str| parse_host(h).unwrap().tcp.unwrap().to_string();
        assert_eq!(addr("tcp://127.0.0.1:2377"), "127.0.0.1:2377");
        assert_eq!(addr("tcp://:2377"), "127.0.0.1:2377");
        assert_eq!(addr("tcp://127.0.0.1"), "127.0.0.1:2376");
        assert_eq!(addr("tcp://[::1]:2377"), "[::1]:2377");
        let s = parse_host("berth+tcp://127.0.0.1:2377?role=read-only").unwrap();
        assert_eq!((s.role, s.path.as_os_str().is_empty()), (Role::ReadOnly, true));
        let err = |h: &str| parse_host(h).unwrap_err();
        assert!(err("tcp://127.0.0.1:99999").contains("port \"99999\""));
        assert!(err("tcp://::1").contains("brackets"));
        assert!(err("berth+tcp://127.0.0.1:1?mode=0660").contains("unknown option \"mode\""));
        assert!(parse_hosts(&["tcp://0.0.0.0:2376".into(), "tcp://127.0.0.1:2376".into()])
            .unwrap_err()
            .contains("same socket"));
        assert!(parse_hosts(&["tcp://127.0.0.1:2376".into(), "unix:///a.sock".into()]).is_ok());
    }

    #[test]
    fn fd_hosts_select_passed_sockets() {
        let sel = |h: &str| parse_host(h).unwrap().passed.unwrap();
        assert_eq!(sel("fd://"), Passed::All);
        assert_eq!(sel("fd://*"), Passed::All, "Docker's spelling of all");
        assert_eq!(sel("fd://3"), Passed::Number(3), "Docker's meaning of a number");
        assert_eq!(sel("fd://berth.socket"), Passed::Name("berth.socket".into()));
        let s = parse_host("berth+fd://ro?role=read-only").unwrap();
        assert_eq!((s.passed, s.role), (Some(Passed::Name("ro".into())), Role::ReadOnly));
        assert_eq!(parse_host("fd://").unwrap().role, Role::Full);
        let err = |h: &str| parse_host(h).unwrap_err();
        assert!(err("berth+fd://x?mode=0660").contains("SocketMode="));
        assert!(err("berth+fd://x?group=berth").contains("SocketGroup="));
        assert!(err("berth+fd://x?colour=red").contains("unknown option \"colour\""));
        assert!(parse_hosts(&["fd://".into(), "fd://ro".into()]).unwrap_err().contains("same socket"));
        assert!(parse_hosts(&["fd://a".into(), "berth+fd://b?role=read-only".into()]).is_ok());
    }

    #[test]
    fn adopting_refuses_what_selects_nothing_or_collides() {
        let specs = parse_hosts(&["fd://".into()]).unwrap();
        assert!(adopt_passed(&specs, Vec::new()).unwrap_err().contains("no socket was passed"));
        let dir = std::env::temp_dir().join(format!("berthd-adopt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let passed = || vec![(OwnedFd::from(l.try_clone().unwrap()), "api".to_string())];
        let got = adopt_passed(&specs, passed()).unwrap();
        assert_eq!(got[0].0.path, path, "a passed socket is known by its own address");
        let named = parse_hosts(&["fd://other".into()]).unwrap();
        assert!(adopt_passed(&named, passed()).unwrap_err().contains("(passed: api (fd "));
        let both = parse_hosts(&[format!("unix://{}", path.display()), "fd://api".into()]).unwrap();
        assert!(adopt_passed(&both, passed()).unwrap_err().contains("same socket"));
        let dgram = std::os::unix::net::UnixDatagram::bind(dir.join("d.sock")).unwrap();
        let err = adopt_passed(&specs, vec![(OwnedFd::from(dgram), "d".into())]).unwrap_err();
        assert!(err.contains("not a stream socket"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn groups_resolve_as_dockers() {
        assert_eq!(resolve_group("root", true).unwrap(), Some(0));
        assert_eq!(resolve_group("", true).unwrap(), None);
        assert_eq!(resolve_group("4242", true).unwrap(), Some(4242), "a number is a gid");
        let missing = "berth-no-such-group-x";
        assert!(resolve_group(missing, true).unwrap_err().contains(missing));
        assert_eq!(resolve_group(missing, false).unwrap(), None, "the default group may be missing");
    }
}
