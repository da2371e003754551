//! The embedded DNS inside the loop: queries on 127.0.0.11:53 (UDP, and TCP) are answered at once
//! from the names file, or forwarded from the host's namespace — a socket of its own per query,
//! each upstream in turn — and the answer relayed; SERVFAIL when none answers in time. Every
//! socket is non-blocking and bounded in number: the loop never waits on a resolver.

use crate::dns::{answer, bind_in, point_resolv_conf, servfail, DnsError, Names, Verdict};
use berth_proto::ShimConfig;
use nix::poll::{PollFd, PollFlags};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How long one upstream has to answer before the next is asked (Docker waits 4 s in all; a
/// client's own resolver usually gives up after 5).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Queries being forwarded at once; past it, SERVFAIL at once (a flood must not grow the monitor).
const MAX_FORWARDS: usize = 64;
const MAX_STREAMS: usize = 16;
/// A TCP client idle this long is dropped.
const STREAM_IDLE: Duration = Duration::from_secs(10);
/// Datagrams read per loop turn, so a flood cannot starve the container's output.
const DATAGRAMS_PER_TURN: usize = 32;
const BUF: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    Udp(SocketAddr),
    Tcp(u64),
}

struct Forward {
    sock: UdpSocket,
    to: Client,
    query: Vec<u8>,
    upstreams: Vec<IpAddr>,
    /// The upstream asked now, an index into `upstreams`.
    at: usize,
    deadline: Instant,
}

struct Stream {
    id: u64,
    sock: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    deadline: Instant,
    read_closed: bool,
    dead: bool,
}

pub(crate) struct DnsServer {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    names: Names,
    forwards: Vec<Forward>,
    streams: Vec<Stream>,
    next_stream: u64,
}

impl DnsServer {
    /// Binds the server in the container's namespace and points its resolv.conf at it. None
    /// (logged) when it cannot: the container keeps the resolv.conf the daemon wrote. An error
    /// only when the monitor could not return to its own namespace (it must not go on there).
    pub(crate) fn start(cfg: &ShimConfig) -> Result<Option<DnsServer>, DnsError> {
        let Some(spec) = cfg.dns.as_ref() else { return Ok(None) };
        let (udp, tcp) = match bind_in(&spec.netns) {
            Ok(s) => s,
            Err(e @ DnsError::Return(_)) => return Err(e),
            Err(e) => {
                crate::diag!("embedded DNS not served: {e}");
                return Ok(None);
            }
        };
        point_resolv_conf(spec);
        let shims = cfg.state_dir.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        Ok(Some(DnsServer {
            udp,
            tcp,
            names: Names::new(spec.names.clone(), shims),
            forwards: Vec::new(),
            streams: Vec::new(),
            next_stream: 0,
        }))
    }

    /// What to poll, in the order [`Self::on_ready`] takes the events.
    pub(crate) fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut v = vec![PollFd::new(self.udp.as_fd(), PollFlags::POLLIN)];
        if let Some(l) = &self.tcp {
            v.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        v.extend(self.forwards.iter().map(|f| PollFd::new(f.sock.as_fd(), PollFlags::POLLIN)));
        for s in &self.streams {
            let mut ev = PollFlags::empty();
            if !s.read_closed {
                ev |= PollFlags::POLLIN;
            }
            if !s.output.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            v.push(PollFd::new(s.sock.as_fd(), ev));
        }
        v
    }

    pub(crate) fn on_ready(&mut self, revents: &[PollFlags]) {
        // The events follow the order of poll time: what is added meanwhile comes after.
        let n_fwd = self.forwards.len();
        let mut ev = revents.iter().copied();
        let mut buf = [0u8; BUF];
        if ev.next().is_some_and(|e| !e.is_empty()) {
            self.read_datagrams(&mut buf);
        }
        if self.tcp.is_some() && ev.next().is_some_and(|e| !e.is_empty()) {
            self.accept();
        }
        let fwd_ev: Vec<PollFlags> = ev.by_ref().take(n_fwd).collect();
        let stream_ev: Vec<PollFlags> = ev.collect();
        let mut done = Vec::new();
        for (i, e) in fwd_ev.iter().enumerate() {
            if !e.is_empty() {
                if let Some(reply) = self.read_upstream(i, &mut buf) {
                    done.push((i, reply));
                }
            }
        }
        for (i, reply) in done.into_iter().rev() {
            let f = self.forwards.remove(i);
            if let Some(reply) = reply {
                self.send(f.to, &reply);
            } else {
                self.retry(f);
            }
        }
        for (i, &e) in stream_ev.iter().enumerate() {
            if e.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                self.read_stream(i, &mut buf);
            }
            if e.contains(PollFlags::POLLOUT) {
                flush(&mut self.streams[i]);
            }
        }
        self.streams.retain(|s| !s.dead);
    }

    /// Timeouts: an upstream that did not answer gives way to the next; an idle client goes.
    /// Returns when the loop must wake for the next one.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<Instant> {
        let mut i = 0;
        while i < self.forwards.len() {
            if self.forwards[i].deadline <= now {
                let f = self.forwards.remove(i);
                self.retry(f);
            } else {
                i += 1;
            }
        }
        for s in &mut self.streams {
            if s.deadline <= now {
                s.dead = true;
            }
        }
        self.streams.retain(|s| !s.dead);
        self.forwards.iter().map(|f| f.deadline).chain(self.streams.iter().map(|s| s.deadline)).min()
    }

    fn read_datagrams(&mut self, buf: &mut [u8]) {
        for _ in 0..DATAGRAMS_PER_TURN {
            match self.udp.recv_from(buf) {
                Ok((n, from)) => {
                    let query = buf[..n].to_vec();
                    self.handle(query, Client::Udp(from));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break, // WouldBlock, or an ICMP error of an earlier answer
            }
        }
    }

    fn handle(&mut self, query: Vec<u8>, to: Client) {
        match answer(&query, &mut self.names, matches!(to, Client::Udp(_))) {
            Verdict::Reply(r) => self.send(to, &r),
            Verdict::Drop => {}
            Verdict::Forward => {
                let upstreams = self.names.upstreams();
                if self.forwards.len() >= MAX_FORWARDS {
                    return self.fail(to, &query);
                }
                self.ask(to, query, upstreams, 0);
            }
        }
    }

    /// Asks upstream `from` (or the next that can be asked); SERVFAIL when none is left.
    fn ask(&mut self, to: Client, query: Vec<u8>, upstreams: Vec<IpAddr>, from: usize) {
        for at in from..upstreams.len() {
            let ip = upstreams[at];
            let local: SocketAddr = match ip {
                IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            // A socket per query, in the monitor's (the host's) namespace: its random port and
            // the connected peer are what keeps a forged answer out.
            let sent = UdpSocket::bind(local).and_then(|s| {
                s.set_nonblocking(true)?;
                s.connect((ip, 53))?;
                s.send(&query)?;
                Ok(s)
            });
            match sent {
                Ok(sock) => {
                    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
                    self.forwards.push(Forward { sock, to, query, upstreams, at, deadline });
                    return;
                }
                Err(e) => crate::diag!("DNS: forwarding to {ip}: {e}"),
            }
        }
        self.fail(to, &query);
    }

    fn retry(&mut self, f: Forward) {
        self.ask(f.to, f.query, f.upstreams, f.at + 1);
    }

    /// The answer of forward `i`: Some(Some(bytes)) relayed, Some(None) that upstream failed
    /// (try the next), None nothing yet (an answer to another query is ignored).
    fn read_upstream(&mut self, i: usize, buf: &mut [u8]) -> Option<Option<Vec<u8>>> {
        let f = &self.forwards[i];
        loop {
            match f.sock.recv(buf) {
                Ok(n) if n >= 2 && buf[..2] == f.query[..2] => return Some(Some(buf[..n].to_vec())),
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                // ECONNREFUSED: nothing listens there.
                Err(_) => return Some(None),
            }
        }
    }

    fn fail(&mut self, to: Client, query: &[u8]) {
        if let Some(r) = servfail(query) {
            self.send(to, &r);
        }
    }

    fn send(&mut self, to: Client, reply: &[u8]) {
        match to {
            // Dropped when the socket is full: the client asks again.
            Client::Udp(addr) => drop(self.udp.send_to(reply, addr)),
            Client::Tcp(id) => {
                if let Some(s) = self.streams.iter_mut().find(|s| s.id == id) {
                    s.output.extend_from_slice(&(reply.len() as u16).to_be_bytes());
                    s.output.extend_from_slice(reply);
                    flush(s);
                }
            }
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.tcp else { return };
        loop {
            match l.accept() {
                Ok((sock, _)) => {
                    if self.streams.len() >= MAX_STREAMS || sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.next_stream += 1;
                    self.streams.push(Stream {
                        id: self.next_stream,
                        sock,
                        input: Vec::new(),
                        output: Vec::new(),
                        deadline: Instant::now() + STREAM_IDLE,
                        read_closed: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    /// Reads what a TCP client sent; each complete message (2-byte length, then the query) is
    /// handled as a datagram would be.
    fn read_stream(&mut self, i: usize, buf: &mut [u8]) {
        let s = &mut self.streams[i];
        loop {
            match s.sock.read(buf) {
                Ok(0) => {
                    s.read_closed = true;
                    break;
                }
                Ok(n) => {
                    s.input.extend_from_slice(&buf[..n]);
                    s.deadline = Instant::now() + STREAM_IDLE;
                    if s.input.len() > 2 + u16::MAX as usize {
                        s.dead = true;
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    s.dead = true;
                    return;
                }
            }
        }
        let id = s.id;
        let pending = self.forwards.iter().any(|f| f.to == Client::Tcp(id));
        let s = &mut self.streams[i];
        let mut queries = Vec::new();
        while s.input.len() >= 2 {
            let len = u16::from_be_bytes([s.input[0], s.input[1]]) as usize;
            if s.input.len() < 2 + len {
                break;
            }
            queries.push(s.input[2..2 + len].to_vec());
            s.input.drain(..2 + len);
        }
        if s.read_closed && s.output.is_empty() && queries.is_empty() && !pending {
            s.dead = true;
        }
        for q in queries {
            self.handle(q, Client::Tcp(id));
        }
    }
}

fn flush(s: &mut Stream) {
    while !s.output.is_empty() {
        match s.sock.write(&s.output) {
            Ok(0) => break,
            Ok(n) => {
                s.output.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                s.dead = true;
                return;
            }
        }
    }
    if s.output.is_empty() && s.read_closed {
        s.dead = true;
    }
}
