//! IPv6: dual-stack user networks (`--ipv6`, `--subnet`, `--ip6`), the default bridge with
//! daemon.json's `ipv6` and `fixed-cidr-v6`, published ports answering over IPv6, and all of it
//! through a kill -9 of the daemon. Every subnet is a ULA derived from the test's pid, so tests
//! running side by side never share one. The daemon runs with `ip-forward: false`: IPv6
//! forwarding on this host's own namespace would change how it treats router advertisements,
//! and nothing here needs traffic to leave the host (berth-net's kernel test covers outbound
//! NAT over IPv6 in a namespace of its own).

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `fd42:<pid hi>:<pid lo>:<n>::/64`, and its prefix text.
fn ula(n: u32) -> (String, String) {
    let pid = std::process::id();
    let prefix = format!("fd42:{:x}:{:x}:{n:x}", pid >> 16, pid & 0xffff);
    (format!("{prefix}::/64"), prefix)
}

/// One HTTP GET over TCP to `[addr]:port`; the body, or None when nothing answers.
fn http_get(addr: &str, port: u16) -> Option<String> {
    let sa: std::net::SocketAddr = format!("[{addr}]:{port}").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split("\r\n\r\n").nth(1).map(|b| b.trim().to_string())
}

fn inspect_net(d: &TestDaemon, c: &str, net: &str, field: &str) -> String {
    d.docker_ok(&["inspect", "-f", &format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}"), c])
}

const WEB: &str = "mkdir -p /www && echo hello6 > /www/index.html && exec httpd -f -p 80 -h /www";

#[test]
fn dual_stack_networks_published_ports_and_an_outage() {
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        eprintln!("skipped: this kernel has no IPv6");
        return;
    }
    let (bridge6, bprefix) = ula(1);
    let (user6, uprefix) = ula(2);
    let cfg = json!({"ipv6": true, "fixed-cidr-v6": bridge6, "ip-forward": false}).to_string();
    let mut d = TestDaemon::start(DaemonOpts::new("ipv6").live_restore(true).config(cfg));
    d.busybox_image();

    // The default bridge: dual stack from daemon.json.
    d.docker_ok(&["run", "-d", "--name", "b1", "busybox", "sh", "-c", WEB]);
    let b1 = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}", "b1"]);
    assert!(b1.starts_with(&format!("{bprefix}::")), "{b1} in {bridge6}");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPv6Gateway}}", "b1"]), format!("{bprefix}::1"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.GlobalIPv6PrefixLen}}", "b1"]), "64");
    let addrs = d.docker_ok(&["exec", "b1", "ip", "-6", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("{b1}/64")), "{addrs}");
    let global = addrs.lines().find(|l| l.contains(&b1)).unwrap();
    assert!(!global.contains("tentative"), "no duplicate address detection wait: {addrs}");
    let bridge = d.api_get("/networks/bridge").json();
    assert_eq!(bridge["EnableIPv6"], true);
    assert_eq!(bridge["IPAM"]["Config"][1]["Subnet"], bridge6.as_str());

    // A user network with IPv6: an IPv4 subnet is picked, the IPv6 one is the one asked for.
    d.docker_ok(&["network", "create", "--ipv6", "--subnet", &user6, "six"]);
    let net = d.api_get("/networks/six").json();
    assert_eq!(net["EnableIPv6"], true, "{net}");
    let pools = net["IPAM"]["Config"].as_array().unwrap();
    assert!(pools.iter().any(|p| p["Subnet"] == user6.as_str() && p["Gateway"] == format!("{uprefix}::1")), "{net}");
    assert!(pools.iter().any(|p| p["Subnet"].as_str().is_some_and(|s| !s.contains(':'))), "no IPv4 pool: {net}");
    d.docker_ok(&["run", "-d", "--name", "web", "--network", "six", "-p", "80", "busybox", "sh", "-c", WEB]);
    let fixed = format!("{uprefix}::f00d");
    d.docker_ok(&["run", "-d", "--name", "st", "--network", "six", "--ip6", &fixed, "busybox", "sleep", "1000"]);
    assert_eq!(inspect_net(&d, "st", "six", "GlobalIPv6Address"), fixed);
    assert_eq!(inspect_net(&d, "st", "six", "IPAMConfig.IPv6Address"), fixed);
    let web6 = inspect_net(&d, "web", "six", "GlobalIPv6Address");
    assert!(web6.starts_with(&format!("{uprefix}::")) && web6 != fixed, "{web6}");
    let members = d.api_get("/networks/six").json()["Containers"].clone();
    assert!(members.as_object().unwrap().values().any(|m| m["IPv6Address"] == format!("{fixed}/64")), "{members}");

    // Container to container over IPv6, on the user network and on the bridge.
    let fetch = |d: &TestDaemon, net: &str, ip: &str| {
        d.docker_ok(&["run", "--rm", "--network", net, "busybox", "wget", "-qO-", &format!("http://[{ip}]/")])
    };
    assert!(wait_until(Duration::from_secs(5), || http_get(&web6, 80).is_some()), "web never answered");
    assert_eq!(fetch(&d, "six", &web6), "hello6");
    assert_eq!(fetch(&d, "bridge", &b1), "hello6");
    d.docker_ok(&["exec", "st", "ping", "-6", "-c1", "-W2", &web6]);

    // A published port answers over IPv6 on the host's addresses (here: the network's gateway),
    // and is listed on `::` beside `0.0.0.0`, as dockerd lists it.
    let ports = d.docker_ok(&["port", "web", "80"]);
    assert!(
        ports.lines().any(|l| l.starts_with("0.0.0.0:")) && ports.lines().any(|l| l.starts_with("[::]:")),
        "{ports}"
    );
    let host_port: u16 = ports.lines().next().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(http_get(&format!("{uprefix}::1"), host_port).as_deref(), Some("hello6"));

    // What cannot work is refused by name, not accepted and dropped.
    d.docker_ok(&["network", "create", "four"]);
    let (_, err) = d.docker_err(&["run", "--rm", "--network", "four", "--ip6", &fixed, "busybox", "true"]);
    assert!(err.contains("does not have IPv6 enabled"), "{err}");
    let (_, err) = d.docker_err(&["run", "--rm", "--network", "four", "-p", "[fd42::1]:8099:80", "busybox", "true"]);
    assert!(err.contains("has no IPv6 address"), "{err}");
    let (_, err) = d.docker_err(&["run", "--rm", "-p", "[::1]:8099:80", "busybox", "true"]);
    assert!(err.contains("userland proxy"), "{err}");
    let (_, err) = d.docker_err(&["run", "--rm", "--network", "six", "--ip6", &fixed, "busybox", "true"]);
    assert!(err.contains("already in use"), "{err}");

    // kill -9: the kernel keeps serving the published port and the addresses while the daemon
    // is away, and the restarted daemon hands out no address twice.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    assert_eq!(http_get(&format!("{uprefix}::1"), host_port).as_deref(), Some("hello6"), "port down with the daemon");
    d.restart();
    assert_eq!(http_get(&format!("{uprefix}::1"), host_port).as_deref(), Some("hello6"));
    assert_eq!(fetch(&d, "six", &web6), "hello6");
    d.docker_ok(&["run", "-d", "--name", "late", "--network", "six", "busybox", "sleep", "1000"]);
    let late = inspect_net(&d, "late", "six", "GlobalIPv6Address");
    assert!(late != web6 && late != fixed && late.starts_with(&format!("{uprefix}::")), "{late}");

    // Removal gives every address back and takes the network's rules with it.
    d.docker_ok(&["rm", "-f", "web", "st", "late", "b1"]);
    d.docker_ok(&["network", "rm", "six", "four"]);
    let pools: Vec<serde_json::Value> = std::fs::read_dir(d.data_root.join("network"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ipam6-"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    assert_eq!(pools.len(), 2, "one IPv6 pool for the bridge, one for six: {pools:?}");
    for p in &pools {
        assert_eq!(p["allocations"], json!({}), "addresses left allocated: {p}");
    }
    assert!(http_get(&format!("{bprefix}::1"), host_port).is_none(), "port still published");
}
