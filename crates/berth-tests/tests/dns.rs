//! Docker's embedded DNS on user-defined networks, served by each container's monitor at
//! 127.0.0.11:53: names, aliases, short ids and link aliases of running peers; PTR; everything
//! else relayed to the upstream servers (here a tiny responder on a loopback address of the
//! test's own namespace); and all of it while the daemon is killed and after it is back.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

/// The one outside name the test upstream knows, and its address (TEST-NET-1).
const OUTSIDE: &str = "outside.example";
const OUTSIDE_IP: &str = "192.0.2.7";

/// A DNS server on `127.53.x.y:53` answering A for [`OUTSIDE`], NXDOMAIN for any other name:
/// the containers' upstream (`--dns`). Returns its address.
fn start_upstream() -> String {
    let pid = std::process::id();
    let ip = format!("127.53.{}.{}", (pid >> 8) % 250 + 1, pid % 250 + 1);
    let sock = UdpSocket::bind((ip.as_str(), 53)).expect("bind the test upstream");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(r) = upstream_answer(&buf[..n]) {
                let _ = sock.send_to(&r, from);
            }
        }
    });
    ip
}

fn upstream_answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    while *q.get(i)? != 0 {
        let l = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + l)?).to_lowercase());
        i += 1 + l;
    }
    let end = i + 5;
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let known = labels.join(".") == OUTSIDE;
    let mut r = q[..2].to_vec();
    let rcode = if known { 0 } else { 3 };
    let answer = known && qtype == 1;
    r.extend([0x81, 0x80 | rcode, 0, 1, 0, answer as u8, 0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..end)?);
    if answer {
        r.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend(OUTSIDE_IP.split('.').map(|o| o.parse::<u8>().unwrap()));
    }
    Some(r)
}

/// busybox's nslookup in `pid`'s namespaces (entered with nsenter, so that it works while the
/// daemon is down): its output.
fn nslookup(pid: i32, name: &str) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "-u", "-i", "-n", "-p", "nslookup", name])
        .output()
        .expect("nsenter");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The addresses nslookup finds for `name`.
fn lookup(pid: i32, name: &str) -> Vec<String> {
    addresses(&nslookup(pid, name))
}

/// The addresses of answers in nslookup's output (the server's own lines come before `Name:`).
fn addresses(out: &str) -> Vec<String> {
    let mut seen_name = false;
    let mut v = Vec::new();
    for l in out.lines() {
        if l.starts_with("Name:") {
            seen_name = true;
        } else if seen_name && l.starts_with("Address") {
            if let Some(a) = l.split_whitespace().last() {
                v.push(a.to_string());
            }
        }
    }
    v
}

/// An A query for `name` over TCP to 127.0.0.11:53 in the network namespace file `netns`
/// (entered by a thread of this test); the addresses of the answer.
fn tcp_lookup(netns: &std::path::Path, name: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let netns = netns.to_path_buf();
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    let answer = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let ns = std::fs::File::open(&netns)?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let mut s = std::net::TcpStream::connect("127.0.0.11:53")?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend(&q);
        s.write_all(&msg)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut r)?;
        Ok(r)
    })
    .join()
    .unwrap()
    .expect("a DNS answer over TCP");
    assert_eq!(answer[..2], [0x42, 0x42]);
    // Each A record ends in its 4 address bytes after `type 1, class 1, ttl, rdlength 4`.
    answer
        .windows(14)
        .filter(|w| w[..4] == [0, 1, 0, 1] && w[8..10] == [0, 4])
        .map(|w| format!("{}.{}.{}.{}", w[10], w[11], w[12], w[13]))
        .collect()
}

fn ip_on(d: &TestDaemon, name: &str, net: &str) -> String {
    d.inspect(name)["NetworkSettings"]["Networks"][net]["IPAddress"].as_str().unwrap().to_string()
}

fn resolves(pid: i32, name: &str, ip: &str) -> bool {
    wait_until(Duration::from_secs(5), || lookup(pid, name) == vec![ip.to_string()])
}

/// A daemon with live restore, busybox, a user network `net`, and the test upstream's address.
fn setup(name: &str, net: &str) -> (TestDaemon, String) {
    let upstream = start_upstream();
    let mut d = TestDaemon::start(DaemonOpts::new(name).live_restore(true));
    d.busybox_image();
    d.docker_ok(&["network", "create", net]);
    (d, upstream)
}

#[test]
fn monitors_serve_names_of_running_peers_and_relay_the_rest_through_an_outage() {
    let (mut d, upstream) = setup("dns", "dn");
    let run = |d: &TestDaemon, args: &[&str]| {
        let mut a = vec!["run", "-d", "--network", "dn", "--dns", upstream.as_str()];
        a.extend_from_slice(args);
        a.extend(["busybox", "sleep", "1000"]);
        d.docker_ok(&a);
    };
    // The link names a container that does not exist yet.
    run(&d, &["--name", "client", "--link", "later:lat"]);
    run(&d, &["--name", "peer", "--network-alias", "pal"]);
    run(&d, &["--name", "gone"]);
    let client = d.state("client").pid;
    let resolv = d.docker_ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    assert!(resolv.lines().any(|l| l == "nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.lines().any(|l| l == "options ndots:0"), "{resolv}");
    assert!(!resolv.contains(&upstream), "the upstream is the server's, not the file's: {resolv}");

    let peer_ip = ip_on(&d, "peer", "dn");
    let peer_id = d.inspect("peer")["Id"].as_str().unwrap()[..12].to_string();
    for name in ["peer", "PEER.", "pal", peer_id.as_str(), "peer.dn"] {
        assert!(resolves(client, name, &peer_ip), "{name}: {:?}", lookup(client, name));
    }
    let netns = d.exec_root.join("netns").join(d.inspect("client")["Id"].as_str().unwrap());
    assert_eq!(tcp_lookup(&netns, "pal"), vec![peer_ip.clone()], "over TCP");
    // A PTR for a peer's address names it; an outside name is relayed from the upstream.
    let ptr = nslookup(client, &peer_ip);
    assert!(ptr.contains("peer.dn"), "{ptr}");
    assert!(resolves(client, OUTSIDE, OUTSIDE_IP), "{:?}", lookup(client, OUTSIDE));
    assert!(lookup(client, "nosuch.example").is_empty());

    // A link's alias resolves once its container starts, only for the linking container.
    assert!(lookup(client, "lat").is_empty());
    run(&d, &["--name", "later"]);
    let later_ip = ip_on(&d, "later", "dn");
    assert!(resolves(client, "lat", &later_ip), "{:?}", lookup(client, "lat"));
    assert!(lookup(d.state("peer").pid, "lat").is_empty(), "the alias is the linking container's own");
    // A stopped peer no longer resolves.
    d.docker_ok(&["stop", "-t", "0", "later"]);
    assert!(wait_until(Duration::from_secs(5), || lookup(client, "lat").is_empty()));
    assert!(lookup(client, "later").is_empty());

    // `network connect` adds the peers of the other network; `disconnect` takes them away.
    d.docker_ok(&["network", "create", "dn2"]);
    d.docker_ok(&["run", "-d", "--name", "other", "--network", "dn2", "busybox", "sleep", "1000"]);
    let other_ip = ip_on(&d, "other", "dn2");
    assert!(lookup(client, "other").is_empty());
    d.docker_ok(&["network", "connect", "dn2", "client"]);
    assert!(resolves(client, "other", &other_ip), "{:?}", lookup(client, "other"));
    d.docker_ok(&["network", "disconnect", "dn2", "client"]);
    assert!(wait_until(Duration::from_secs(5), || lookup(client, "other").is_empty()));

    // The default bridge keeps the host's resolvers.
    let plain = d.docker_ok(&["run", "--rm", "--dns", upstream.as_str(), "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!plain.contains("127.0.0.11"), "{plain}");
    assert!(plain.contains(&upstream), "{plain}");

    // The daemon goes: names, aliases and forwarding keep working; a peer that ends meanwhile
    // (nobody rewrites the names) stops resolving all the same.
    let gone = d.state("gone").pid;
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("berthd killed");
    for (name, ip) in [("peer", peer_ip.as_str()), ("pal", peer_ip.as_str()), (OUTSIDE, OUTSIDE_IP)] {
        assert!(resolves(client, name, ip), "daemon down, {name}: {:?}", lookup(client, name));
    }
    assert!(!lookup(client, "gone").is_empty());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gone), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_until(Duration::from_secs(5), || lookup(client, "gone").is_empty()), "{:?}", lookup(client, "gone"));

    d.restart();
    assert!(resolves(client, "pal", &peer_ip));
    d.docker_ok(&["start", "later"]);
    let later_ip = ip_on(&d, "later", "dn");
    assert!(resolves(client, "lat", &later_ip), "after the restart: {:?}", lookup(client, "lat"));
}

/// A monitor that restarts its container by itself (restart policy, daemon down) serves DNS
/// again for the next incarnation.
#[test]
fn dns_survives_a_restart_by_the_monitor_while_the_daemon_is_down() {
    let (mut d, upstream) = setup("dns-restart", "dr");
    d.docker_ok(&["run", "-d", "--name", "peer", "--network", "dr", "busybox", "sleep", "1000"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flappy",
        "--network",
        "dr",
        "--dns",
        &upstream,
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 4; exit 1",
    ]);
    let peer_ip = ip_on(&d, "peer", "dr");
    let first = d.state("flappy").pid;
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("berthd killed");
    let record = || -> Option<i32> {
        let dir = std::fs::read_dir(d.exec_root.join("shims")).ok()?;
        dir.flatten()
            .filter_map(|e| {
                let m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(e.path().join("monitor.json")).ok()?).ok()?;
                Some(m["container_pid"].as_i64()? as i32)
            })
            .find(|p| *p != first && std::path::Path::new(&format!("/proc/{p}/ns/net")).exists() && is_flappy(*p))
    };
    let mut next = None;
    assert!(
        wait_until(Duration::from_secs(15), || {
            next = record();
            next.is_some()
        }),
        "the monitor restarted the container"
    );
    let next = next.unwrap();
    assert!(resolves(next, "peer", &peer_ip), "{:?}", lookup(next, "peer"));
    assert!(resolves(next, OUTSIDE, OUTSIDE_IP));
    d.restart();
}

fn is_flappy(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("exit 1"))
        .unwrap_or(false)
}

/// On a dual-stack network a peer's name has its IPv6 address too (AAAA), and a PTR for that
/// address names it; on an IPv4-only one AAAA has no records (never an outside answer).
#[test]
fn dual_stack_peers_answer_aaaa_and_ipv6_ptr() {
    let (d, upstream) = setup("dns-v6", "four4");
    let pid = std::process::id();
    let subnet = format!("fd43:{:x}:{:x}:1::/64", pid >> 16, pid & 0xffff);
    d.docker_ok(&["network", "create", "--ipv6", "--subnet", &subnet, "six6"]);
    for (name, net) in [("a6", "six6"), ("b6", "six6"), ("a4", "four4"), ("b4", "four4")] {
        d.docker_ok(&["run", "-d", "--name", name, "--network", net, "--dns", &upstream, "busybox", "sleep", "1000"]);
    }
    let b6 = d.inspect("b6")["NetworkSettings"]["Networks"]["six6"]["GlobalIPv6Address"].as_str().unwrap().to_string();
    let b6_v4 = ip_on(&d, "b6", "six6");
    let a6 = d.state("a6").pid;
    let mut want = vec![b6_v4, b6.parse::<std::net::Ipv6Addr>().unwrap().to_string()];
    want.sort();
    let found = || {
        let mut v: Vec<String> = lookup(a6, "b6")
            .into_iter()
            .map(|a| a.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or(a))
            .collect();
        v.sort();
        v
    };
    assert!(wait_until(Duration::from_secs(5), || found() == want), "{:?} want {want:?}", found());
    let ptr = nslookup(a6, &b6);
    assert!(ptr.contains("b6.six6"), "{ptr}");
    // IPv4 only: the A record and nothing else, with no error.
    let out = nslookup(d.state("a4").pid, "b4");
    assert_eq!(addresses(&out), vec![ip_on(&d, "b4", "four4")], "{out}");
}
