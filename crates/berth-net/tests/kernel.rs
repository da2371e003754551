//! Bridge, veth endpoints, NAT and published ports with real traffic, each test in its own
//! network namespace (see common::in_own_netns).

mod common;

use berth_net::{
    attach, attach_iface, detach, nft, Bridge, Desired, DesiredEndpoint, DesiredNetwork, Iface, Ipv4Net, Ipv6Net,
    NetnsRef, PortMapping,
};
use common::{client_here, client_in, sh, unique, Netns, Server};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

fn cidr(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ifindex_in(ns: &Netns, dev: &str) -> Option<String> {
    let out = ns.exec(&["cat", &format!("/sys/class/net/{dev}/ifindex")]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn link_json(dev: &str) -> Option<serde_json::Value> {
    let out = Command::new("ip").args(["-j", "link", "show", "dev", dev]).output().unwrap();
    out.status.success().then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone())
}

#[test]
fn bridge_and_veth_reach_the_gateway() {
    if !common::in_own_netns("bridge_and_veth_reach_the_gateway") {
        return;
    }
    let br = unique("bt");
    let gw = cidr("10.201.0.1/24");
    Bridge::ensure(&br, gw).unwrap();
    Bridge::ensure(&br, gw).unwrap();
    assert_eq!(Bridge::addresses(&br).unwrap(), vec![gw]);
    assert_eq!(std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet")).unwrap().trim(), "1");

    let c1 = Netns::new("bnc");
    let id1 = "0123456789abcdef0123";
    let ep = attach(&NetnsRef::Path(c1.path()), &br, id1, cidr("10.201.0.2/24"), gw.addr()).unwrap();
    assert_eq!(ep.host_veth, "vb0123456789");
    assert_eq!(ep.mac, "02:42:0a:c9:00:02");
    let host = link_json(&ep.host_veth).expect("host veth exists");
    assert_eq!(host["master"], br.as_str());
    assert!(host["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    let mac = c1.exec(&["cat", "/sys/class/net/eth0/address"]);
    assert_eq!(String::from_utf8_lossy(&mac.stdout).trim(), ep.mac);
    let ping = c1.exec(&["busybox", "ping", "-c", "1", "-W", "3", "10.201.0.1"]);
    assert!(ping.status.success(), "ping gateway: {}", String::from_utf8_lossy(&ping.stdout));
    let route = String::from_utf8_lossy(&c1.exec(&["ip", "route", "show", "default"]).stdout).into_owned();
    assert!(route.contains("default via 10.201.0.1 dev eth0"), "{route}");

    // Idempotent: the same eth0 (same ifindex) stays.
    let before = ifindex_in(&c1, "eth0").unwrap();
    let reattach_c1 = || attach(&NetnsRef::Path(c1.path()), &br, id1, cidr("10.201.0.2/24"), gw.addr()).unwrap();
    reattach_c1();
    assert_eq!(ifindex_in(&c1, "eth0").unwrap(), before);
    // A host side taken off the bridge and down (hairpin goes with the bridge) is put back.
    common::sh("ip", &["link", "set", "dev", &ep.host_veth, "nomaster"]);
    common::sh("ip", &["link", "set", "dev", &ep.host_veth, "down"]);
    reattach_c1();
    let host = link_json(&ep.host_veth).expect("host veth exists");
    assert_eq!(host["master"], br.as_str());
    assert!(host["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    let hairpin = std::fs::read_to_string(format!("/sys/class/net/{}/brport/hairpin_mode", ep.host_veth)).unwrap();
    assert_eq!(hairpin.trim(), "1");
    assert_eq!(ifindex_in(&c1, "eth0").unwrap(), before);

    // By pid, the way the daemon attaches a started container.
    let c2 = Netns::new("bnc");
    let mut sleeper =
        Command::new("ip").args(["netns", "exec", &c2.name, "sleep", "60"]).stdout(Stdio::null()).spawn().unwrap();
    // `ip netns exec` enters the namespace after it starts: attaching by pid before that would
    // move the peer into this test's namespace instead (seen once in CI).
    let target = std::fs::metadata(c2.path()).unwrap().ino();
    let in_ns = || std::fs::metadata(format!("/proc/{}/ns/net", sleeper.id())).is_ok_and(|m| m.ino() == target);
    let t0 = std::time::Instant::now();
    while !in_ns() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "sleeper never entered its netns");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let id2 = "fedcba98765432100000";
    let r = attach(&NetnsRef::Pid(sleeper.id()), &br, id2, cidr("10.201.0.3/24"), gw.addr());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    r.unwrap();
    let ping = c2.exec(&["busybox", "ping", "-c", "1", "-W", "3", "10.201.0.2"]);
    assert!(ping.status.success(), "container to container");

    // Another gateway address on the same bridge is added, the old one kept.
    Bridge::ensure(&br, cidr("10.202.0.1/24")).unwrap();
    let addrs = Bridge::addresses(&br).unwrap();
    assert!(addrs.contains(&gw) && addrs.contains(&cidr("10.202.0.1/24")), "{addrs:?}");
    assert!(c1.exec(&["busybox", "ping", "-c", "1", "-W", "3", "10.201.0.1"]).status.success());

    // A half-made endpoint (container side lost its address) is rebuilt.
    assert!(c1.exec(&["ip", "addr", "flush", "dev", "eth0"]).status.success());
    reattach_c1();
    assert!(c1.exec(&["busybox", "ping", "-c", "1", "-W", "3", "10.201.0.1"]).status.success());

    detach(id1).unwrap();
    detach(id1).unwrap();
    assert!(link_json("vb0123456789").is_none());
    assert!(ifindex_in(&c1, "eth0").is_none(), "peer goes with the host side");
    Bridge::remove(&br).unwrap();
    Bridge::remove(&br).unwrap();
    assert!(!Bridge::exists(&br).unwrap());
}

#[test]
fn nat_published_ports_hairpin_and_internal() {
    if !common::in_own_netns("nat_published_ports_hairpin_and_internal") {
        return;
    }
    // The "outside world": a server namespace behind an uplink veth.
    let srv = Netns::new("bns");
    let up = unique("bu");
    sh("ip", &["link", "add", &up, "type", "veth", "peer", "name", "uplink", "netns", &srv.name]);
    sh("ip", &["addr", "add", "192.0.2.1/24", "dev", &up]);
    sh("ip", &["link", "set", &up, "up"]);
    sh("ip", &["-n", &srv.name, "addr", "add", "192.0.2.2/24", "dev", "uplink"]);
    sh("ip", &["-n", &srv.name, "link", "set", "uplink", "up"]);
    let _outside = Server::start(Some(&srv), "0.0.0.0", 9000);

    let br = unique("bt");
    let gw = cidr("10.210.0.1/24");
    Bridge::ensure(&br, gw).unwrap();
    berth_net::enable_ip_forward();
    let c1 = Netns::new("bnc");
    let id1 = "aaaaaaaaaaaa1111";
    attach(&NetnsRef::Path(c1.path()), &br, id1, cidr("10.210.0.2/24"), gw.addr()).unwrap();
    let c2 = Netns::new("bnc");
    let id2 = "bbbbbbbbbbbb2222";
    attach(&NetnsRef::Path(c2.path()), &br, id2, cidr("10.210.0.3/24"), gw.addr()).unwrap();
    let ibr = unique("bt");
    Bridge::ensure(&ibr, cidr("10.211.0.1/24")).unwrap();
    let c3 = Netns::new("bnc");
    let id3 = "cccccccccccc3333";
    attach(&NetnsRef::Path(c3.path()), &ibr, id3, cidr("10.211.0.2/24"), cidr("10.211.0.1/24").addr()).unwrap();

    // Without Berth's table the outside cannot answer a 10.210.0.0/24 source.
    assert!(client_in(&c1, "192.0.2.2", 9000).is_err(), "reached outside without NAT");

    let table = "berth";
    let desired = Desired {
        networks: vec![
            DesiredNetwork {
                name: "front".into(),
                bridge: br.clone(),
                subnet: cidr("10.210.0.0/24"),
                internal: false,
                subnet6: None,
            },
            DesiredNetwork {
                name: "back".into(),
                bridge: ibr.clone(),
                subnet: cidr("10.211.0.0/24"),
                internal: true,
                subnet6: None,
            },
        ],
        endpoints: vec![
            DesiredEndpoint {
                container_id: id1.into(),
                network: "front".into(),
                ip: "10.210.0.2".parse().unwrap(),
                ip6: None,
                ports: vec![PortMapping::parse("127.0.0.1:8080:80").unwrap(), PortMapping::parse("8081:80").unwrap()],
            },
            DesiredEndpoint {
                container_id: id2.into(),
                network: "front".into(),
                ip: "10.210.0.3".parse().unwrap(),
                ip6: None,
                ports: vec![],
            },
            DesiredEndpoint {
                container_id: id3.into(),
                network: "back".into(),
                ip: "10.211.0.2".parse().unwrap(),
                ip6: None,
                ports: vec![PortMapping::parse("8090:80").unwrap()],
            },
        ],
    };
    let report = nft::reconcile(table, &desired).unwrap();
    assert!(report.table_created && report.conflicts.is_empty(), "{report:?}");

    // Outbound NAT: the outside sees the host's uplink address.
    assert_eq!(client_in(&c1, "192.0.2.2", 9000).unwrap(), "hello from 0.0.0.0 to 192.0.2.1");

    let _web = Server::start(Some(&c1), "0.0.0.0", 80);
    let _web3 = Server::start(Some(&c3), "0.0.0.0", 80);
    // From the host itself, 127.0.0.1 included (output DNAT + route_localnet + masquerade).
    assert_eq!(client_here("127.0.0.1:8080").unwrap(), "hello from 0.0.0.0 to 10.210.0.1");
    assert_eq!(client_here("127.0.0.1:8081").unwrap(), "hello from 0.0.0.0 to 10.210.0.1");
    assert_eq!(client_here("192.0.2.1:8081").unwrap(), "hello from 0.0.0.0 to 192.0.2.1");
    assert!(client_here("192.0.2.1:8080").is_err(), "127.0.0.1-only port answered on another address");
    // From outside: the client's address is kept, as Docker does.
    assert_eq!(client_in(&srv, "192.0.2.1", 8081).unwrap(), "hello from 0.0.0.0 to 192.0.2.2");
    assert!(client_in(&srv, "192.0.2.1", 8080).is_err());
    // Hairpin: the container reaching its own published port through the host's address.
    assert_eq!(client_in(&c1, "192.0.2.1", 8081).unwrap(), "hello from 0.0.0.0 to 10.210.0.1");
    // A neighbour through the gateway's address, and directly.
    assert_eq!(client_in(&c2, "10.210.0.1", 8081).unwrap(), "hello from 0.0.0.0 to 10.210.0.1");
    assert_eq!(client_in(&c2, "10.210.0.2", 80).unwrap(), "hello from 0.0.0.0 to 10.210.0.3");
    // The outside cannot open connections straight to a container address.
    sh("ip", &["-n", &srv.name, "route", "add", "10.210.0.0/24", "via", "192.0.2.1"]);
    assert!(client_in(&srv, "10.210.0.2", 80).is_err(), "unpublished port reachable from outside");

    // Internal network: nothing in or out, its ports are not published.
    assert!(client_in(&c3, "192.0.2.2", 9000).is_err(), "internal network got out");
    assert!(client_in(&c3, "10.210.0.2", 80).is_err(), "internal network reached another bridge");
    assert!(client_in(&c1, "10.211.0.2", 80).is_err(), "another bridge reached the internal network");
    assert!(client_here("127.0.0.1:8090").is_err(), "internal network port published");

    // route_localnet must not open the host's 127.0.0.1 services to containers (CVE-2020-8558):
    // c2 routes 127/8 to the gateway; the guard rule stops it (and the leak is shown to be real
    // by removing the rule once).
    for cmd in [
        "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet",
        "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet",
        "ip route del local 127.0.0.0/8 dev lo table local",
        "ip route del local 127.0.0.1 dev lo table local",
        "ip route add 127.0.0.0/8 via 10.210.0.1",
    ] {
        assert!(c2.exec(&["sh", "-c", cmd]).status.success(), "{cmd}");
    }
    let guard = nft::snapshot(table)
        .unwrap()
        .unwrap()
        .rules
        .into_iter()
        .find(|r| r.2 == format!("berth:localnet-guard:{br}"))
        .unwrap();
    sh("nft", &["delete", "rule", "ip", table, "guard", "handle", &guard.1.to_string()]);
    assert!(udp_to_host_loopback(&c2), "the leak this guard is for did not happen");
    let r = nft::reconcile(table, &desired).unwrap();
    assert_eq!((r.rules_added, r.rules_deleted, r.elements_added, r.elements_deleted), (1, 0, 0, 0));
    assert!(!udp_to_host_loopback(&c2), "container reached the host's 127.0.0.1");
    assert_eq!(client_here("127.0.0.1:8080").unwrap(), "hello from 0.0.0.0 to 10.210.0.1");

    nft::remove_table(table).unwrap();
    nft::remove_table(table).unwrap();
    assert!(nft::snapshot(table).unwrap().is_none());
    assert!(client_here("127.0.0.1:8081").is_err(), "port still published after remove_table");
}

#[test]
fn ipv6_dual_stack_nat_isolation_and_published_ports() {
    if !common::in_own_netns("ipv6_dual_stack_nat_isolation_and_published_ports") {
        return;
    }
    let v6 = |s: &str| s.parse::<Ipv6Net>().unwrap();
    // The outside: a server namespace behind an uplink with IPv6 addresses only it and we use.
    let srv = Netns::new("bns");
    let up = unique("bu");
    sh("ip", &["link", "add", &up, "type", "veth", "peer", "name", "uplink", "netns", &srv.name]);
    sh("ip", &["addr", "add", "fd99:2::1/64", "dev", &up, "nodad"]);
    sh("ip", &["link", "set", &up, "up"]);
    sh("ip", &["-n", &srv.name, "addr", "add", "fd99:2::2/64", "dev", "uplink", "nodad"]);
    sh("ip", &["-n", &srv.name, "link", "set", "uplink", "up"]);
    let _outside = Server::start(Some(&srv), "::", 9000);

    let br = unique("bt");
    let (gw, gw6) = (cidr("10.215.0.1/24"), v6("fd99:10::1/64"));
    Bridge::ensure(&br, gw).unwrap();
    Bridge::ensure_v6(&br, gw6).unwrap();
    Bridge::ensure_v6(&br, gw6).unwrap();
    assert!(Bridge::addresses_v6(&br).unwrap().contains(&gw6));
    berth_net::enable_ip_forward();
    berth_net::enable_ip6_forward();
    let attach6 = |ns: &Netns, id: &str, a: &str, a6: &str| {
        let addr = cidr(a);
        let mac = berth_net::mac_for_ip(addr.addr());
        let iface =
            Iface { index: 0, addr, gateway: gw.addr(), mac: &mac, link_local: &[], v6: Some((v6(a6), gw6.addr())) };
        attach_iface(&NetnsRef::Path(ns.path()), &br, id, &iface).unwrap()
    };
    let (c1, c2) = (Netns::new("bnc"), Netns::new("bnc"));
    let (id1, id2) = ("dddddddddddd1111", "eeeeeeeeeeee2222");
    attach6(&c1, id1, "10.215.0.2/24", "fd99:10::2/64");
    attach6(&c2, id2, "10.215.0.3/24", "fd99:10::3/64");
    let route = String::from_utf8_lossy(&c1.exec(&["ip", "-6", "route", "show", "default"]).stdout).into_owned();
    assert!(route.contains("default via fd99:10::1 dev eth0"), "{route}");
    // Attaching again finds both addresses in place and leaves the interface alone.
    let before = ifindex_in(&c1, "eth0").unwrap();
    attach6(&c1, id1, "10.215.0.2/24", "fd99:10::2/64");
    assert_eq!(ifindex_in(&c1, "eth0").unwrap(), before);
    // A lost IPv6 address is a half-made endpoint: rebuilt.
    assert!(c1.exec(&["ip", "-6", "addr", "del", "fd99:10::2/64", "dev", "eth0"]).status.success());
    attach6(&c1, id1, "10.215.0.2/24", "fd99:10::2/64");
    assert!(c1.exec(&["ip", "-6", "addr", "show", "dev", "eth0"]).stdout.windows(10).any(|w| w == b"fd99:10::2"));

    let table = "berth6";
    let front = |subnet6: Option<Ipv6Net>| DesiredNetwork {
        name: "front".into(),
        bridge: br.clone(),
        subnet: cidr("10.215.0.0/24"),
        internal: false,
        subnet6,
    };
    let ep = |id: &str, ip: &str, ip6: &str, ports: &[&str]| DesiredEndpoint {
        container_id: id.into(),
        network: "front".into(),
        ip: ip.parse().unwrap(),
        ip6: Some(ip6.parse().unwrap()),
        ports: ports.iter().map(|p| PortMapping::parse(p).unwrap()).collect(),
    };
    let desired = Desired {
        networks: vec![front(Some(v6("fd99:10::/64")))],
        endpoints: vec![
            ep(id1, "10.215.0.2", "fd99:10::2", &["8081:80", "[fd99:2::1]:8082:80", "127.0.0.1:8083:80"]),
            ep(id2, "10.215.0.3", "fd99:10::3", &[]),
        ],
    };
    let report = nft::reconcile(table, &desired).unwrap();
    assert!(report.table_created && report.conflicts.is_empty(), "{report:?}");
    assert!(!nft::reconcile(table, &desired).unwrap().changed(), "a second reconcile changed something");
    let s6 = nft::snapshot_v6(table).unwrap().expect("ip6 table");
    assert_eq!(s6.maps["ports_any_tcp"]["8081"], "fd99:10::2 . 80");
    assert_eq!(s6.maps["ports_ip_tcp"]["fd99:2::1 . 8082"], "fd99:10::2 . 80");
    assert!(!s6.maps["ports_ip_tcp"].keys().any(|k| k.starts_with("127.")), "an IPv4 binding in the ip6 table");
    assert!(!nft::snapshot(table).unwrap().unwrap().maps["ports_ip_tcp"].contains_key("fd99:2::1 . 8082"));

    // Outbound over IPv6, masqueraded to the uplink's address.
    assert_eq!(client_in(&c1, "fd99:2::2", 9000).unwrap(), "hello from :: to fd99:2::1");
    let _web = Server::start(Some(&c1), "::", 80);
    // Published ports over IPv6: from outside (source kept), from the host, on a bound address.
    assert_eq!(client_in(&srv, "fd99:2::1", 8081).unwrap(), "hello from :: to fd99:2::2");
    assert_eq!(client_in(&srv, "fd99:2::1", 8082).unwrap(), "hello from :: to fd99:2::2");
    assert_eq!(client_here("[fd99:2::1]:8081").unwrap(), "hello from :: to fd99:2::1");
    // The same container over IPv4 still (dual stack: the server's socket takes both).
    assert_eq!(client_here("127.0.0.1:8083").unwrap(), "hello from :: to ::ffff:10.215.0.1");
    // Neighbours on the bridge reach each other directly; the outside cannot.
    assert_eq!(client_in(&c2, "fd99:10::2", 80).unwrap(), "hello from :: to fd99:10::3");
    sh("ip", &["-n", &srv.name, "-6", "route", "add", "fd99:10::/64", "via", "fd99:2::1"]);
    assert!(client_in(&srv, "fd99:10::2", 80).is_err(), "unpublished port reachable from outside over IPv6");

    // Without IPv6 networks the ip6 table goes, in the same transaction as the rest.
    let v4_only = Desired { networks: vec![front(None)], endpoints: vec![] };
    let r = nft::reconcile(table, &v4_only).unwrap();
    assert!(r.objects_deleted >= 1, "{r:?}");
    assert!(nft::snapshot_v6(table).unwrap().is_none());
    assert!(client_in(&srv, "fd99:2::1", 8081).is_err(), "IPv6 port still published");
    nft::remove_table(table).unwrap();
}

/// Sends one datagram from `ns` to 127.0.0.1:7001 and tells whether this namespace received it.
fn udp_to_host_loopback(ns: &Netns) -> bool {
    let rx = std::net::UdpSocket::bind("127.0.0.1:7001").unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
    let send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak', ('127.0.0.1', 7001))";
    assert!(ns.exec(&["python3", "-c", send]).status.success());
    let mut buf = [0u8; 16];
    matches!(rx.recv_from(&mut buf), Ok((4, _)))
}

/// Starts racing on a new network each ensure its bridge: every one must succeed, whichever of
/// them adds the address (iproute2 answers the losers "Address already assigned" or "File exists").
#[test]
fn concurrent_ensures_of_a_new_bridge_all_succeed() {
    if !common::in_own_netns("concurrent_ensures_of_a_new_bridge_all_succeed") {
        return;
    }
    for round in 0..5 {
        let br = format!("btrace{round}");
        let gw = cidr(&format!("10.203.{round}.1/24"));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                std::thread::spawn({
                    let br = br.clone();
                    move || Bridge::ensure(&br, gw)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(Bridge::addresses(&br).unwrap(), vec![gw]);
    }
}
