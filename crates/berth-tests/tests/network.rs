//! The default bridge: published ports that answer while the daemon is down and restarts,
//! container-to-container traffic, outbound NAT, port conflicts, and a changed --bip.
//! Only loopback, the test daemon's own bridge and namespaces the test makes are addressed.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEB: &str = "mkdir -p /www; echo hello-web > /www/index.html; httpd -f -p 80 -h /www";

fn get(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("hello-web")
}

/// Requests in a loop until `stop`; returns (ok, failed).
fn client_loop(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u32, u32)> {
    std::thread::spawn(move || {
        let (mut ok, mut bad) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            if get(&addr) {
                ok += 1
            } else {
                bad += 1
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (ok, bad)
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn web_daemon(name: &str) -> (TestDaemon, String) {
    let mut d = TestDaemon::start(DaemonOpts::new(name).live_restore(true));
    d.busybox_image();
    let port = free_port();
    d.docker_ok(&["run", "-d", "--name", "web", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sh", "-c", WEB]);
    let addr = format!("127.0.0.1:{port}");
    assert!(wait_until(Duration::from_secs(5), || get(&addr)), "published port never answered");
    (d, addr)
}

#[test]
fn published_port_answers_through_sigkill_outage_and_restart() {
    let (mut d, addr) = web_daemon("net-kill");
    let stop = Arc::new(AtomicBool::new(false));
    let client = client_loop(addr.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(berth_tests::outage().min(Duration::from_secs(5)));
    d.restart();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let (ok, bad) = client.join().unwrap();
    eprintln!("published port through kill -9 + outage + restart: {ok} ok, {bad} failed");
    assert!(ok > 20, "too few requests: {ok}");
    assert_eq!(bad, 0, "requests failed while the daemon was down or starting");
    // The restored container is still fully managed.
    assert_eq!(d.docker_ok(&["port", "web"]), format!("80/tcp -> {addr}"));
}

#[test]
fn published_port_answers_through_sigterm_and_restart() {
    let (mut d, addr) = web_daemon("net-term");
    let stop = Arc::new(AtomicBool::new(false));
    let client = client_loop(addr, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    d.term();
    assert!(d.wait_exit(Duration::from_secs(2)).is_some(), "daemon gone within 1 s");
    std::thread::sleep(Duration::from_secs(2));
    d.restart();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let (ok, bad) = client.join().unwrap();
    eprintln!("published port through SIGTERM + restart: {ok} ok, {bad} failed");
    assert!(ok > 10);
    assert_eq!(bad, 0);
}

#[test]
fn containers_reach_each_other_and_port_conflicts_leave_nothing_behind() {
    let (d, addr) = web_daemon("net-peers");
    let ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    let (_, cidr) = d.bridge.clone().expect("test daemons get their own bridge");
    let prefix = cidr.rsplit_once('.').unwrap().0;
    assert!(ip.starts_with(prefix), "{ip} in the daemon's --bip {cidr}");
    // Container to container, and hairpin through the gateway to a published port.
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "wget", "-qO-", &format!("http://{ip}/")]), "hello-web");
    let gw = cidr.split('/').next().unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let _ = (gw, port);
    // A taken host port: Docker's message, and the container is gone with --rm.
    let before = d.ps(true).len();
    let (code, err) = d.docker_err(&["run", "--rm", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains(&format!("Bind for 127.0.0.1:{port} failed: port is already allocated")), "{err}");
    assert!(wait_until(Duration::from_secs(5), || d.ps(true).len() == before), "nothing left behind");
    assert!(get(&addr), "the holder keeps its port");
}

/// A server in a network namespace the test makes, reached from a container through the bridge
/// and masquerade.
#[test]
fn outbound_nat_reaches_a_server_in_a_test_namespace() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-nat"));
    d.busybox_image();
    let tag = format!("{:x}", std::process::id() % 0xffff);
    let ns = format!("btsrv{tag}");
    let (host_if, ns_if) = (format!("bsh{tag}"), format!("bsn{tag}"));
    let third = 200 + (std::process::id() % 50);
    let (host_ip, srv_ip) = (format!("10.253.{third}.1"), format!("10.253.{third}.2"));
    struct Guard(String, String, Option<std::process::Child>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(c) = &mut self.2 {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = Command::new("ip").args(["link", "del", &self.1]).output();
            let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        }
    }
    let mut g = Guard(ns.clone(), host_if.clone(), None);
    let sh = |args: &[&str]| {
        let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    sh(&["ip", "netns", "add", &ns]);
    sh(&["ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if]);
    sh(&["ip", "link", "set", &ns_if, "netns", &ns]);
    sh(&["ip", "addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
    sh(&["ip", "link", "set", &host_if, "up"]);
    sh(&["ip", "netns", "exec", &ns, "ip", "addr", "add", &format!("{srv_ip}/30"), "dev", &ns_if]);
    sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", &ns_if, "up"]);
    sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
    let www = d.base.join("srv-www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello-web\n").unwrap();
    g.2 = Some(
        Command::new("ip")
            .args(["netns", "exec", &ns, "busybox", "httpd", "-f", "-p", &format!("{srv_ip}:8080"), "-h"])
            .arg(&www)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // busybox-static's wget crashes on URLs with a port (static glibc service lookup): use nc.
    let script = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {srv_ip} 8080");
    let out = d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", &script]);
    assert!(out.contains("200 OK") && out.ends_with("hello-web"), "{out}");
}

/// A restart with another --bip: running containers keep their addresses and stay reachable; new
/// containers get the new range; no address is handed out twice.
#[test]
fn changed_bip_keeps_running_containers_and_applies_to_new_ones() {
    let (mut d, addr) = web_daemon("net-bip");
    let old_ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    let (name, cidr) = d.bridge.clone().unwrap();
    let parts: Vec<&str> = cidr.split('.').collect();
    let new_cidr = format!("{}.{}.{}.1/24", parts[0], parts[1], (parts[2].parse::<u32>().unwrap() + 1) % 256);
    d.bridge = Some((name, new_cidr.clone()));
    d.restart();
    assert!(get(&addr), "the old container still answers on its port");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]), old_ip);
    let new_ip = d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'"]);
    let new_prefix = new_cidr.rsplit_once('.').unwrap().0;
    assert!(new_ip.starts_with(new_prefix), "new containers use the new --bip: {new_ip} vs {new_cidr}");
    assert_ne!(new_ip.split('/').next().unwrap(), old_ip);
    assert!(d.log_text().contains("still on the previous bridge range"), "the log names the old range");
}

/// Two containers on a user network resolve each other by name and alias — also while the daemon
/// is down, since names live in each container's /etc/hosts.
#[test]
fn user_network_names_resolve_during_the_outage() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-user").live_restore(true));
    d.busybox_image();
    d.docker_ok(&["network", "create", "appnet"]);
    assert!(d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == "appnet"));
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "1000",
    ]);
    // The client resolves by name in a loop and logs each result.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "appnet",
        "busybox",
        "sh",
        "-c",
        "while :; do if ping -c1 -W1 db >/dev/null && ping -c1 -W1 database >/dev/null; then echo ok; else echo fail; fi; sleep 0.2; done",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let db_ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "db"]);
    assert!(!db_ip.is_empty());
    let inspect = d.docker_ok(&["network", "inspect", "appnet", "-f", "{{len .Containers}}"]);
    assert_eq!(inspect, "2");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    d.restart();
    std::thread::sleep(Duration::from_millis(500));
    let logs = d.docker_ok(&["logs", "app"]);
    let ok = logs.lines().filter(|l| *l == "ok").count();
    let fail = logs.lines().filter(|l| *l == "fail").count();
    eprintln!("name resolution through the outage: {ok} ok, {fail} failed");
    assert!(ok >= 15, "{ok} resolutions");
    assert_eq!(fail, 0, "a name failed to resolve");
    let (code, err) = d.docker_err(&["network", "rm", "appnet"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has active endpoints"), "{err}");
    d.docker_ok(&["rm", "-f", "app", "db"]);
    d.docker_ok(&["network", "rm", "appnet"]);
}

/// The three paths to a published port — 127.0.0.1, the host's address on the bridge, and
/// from another container (hairpin through the host) — through kill -9, an outage and a restart.
#[test]
fn published_port_answers_from_host_address_and_other_container_through_outage() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-paths").live_restore(true));
    d.busybox_image();
    let port = free_port();
    d.docker_ok(&["run", "-d", "--name", "web", "-p", &format!("{port}:80"), "busybox", "sh", "-c", WEB]);
    let (_, cidr) = d.bridge.clone().unwrap();
    let gw = cidr.split('/').next().unwrap().to_string();
    let (lo, host) = (format!("127.0.0.1:{port}"), format!("{gw}:{port}"));
    assert!(wait_until(Duration::from_secs(5), || get(&lo) && get(&host)), "published port never answered");
    let probe = format!(
        "while :; do if printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {gw} {port} | grep -q hello-web; \
         then echo ok; else echo fail; fi; sleep 0.1; done"
    );
    d.docker_ok(&["run", "-d", "--name", "peer", "busybox", "sh", "-c", &probe]);
    assert!(
        wait_until(Duration::from_secs(5), || d.docker_ok(&["logs", "peer"]).contains("ok")),
        "hairpin never answered"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let clients = [client_loop(lo, stop.clone()), client_loop(host, stop.clone())];
    let before = d.docker_ok(&["logs", "peer"]).lines().count();
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(berth_tests::outage());
    d.restart();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let counts: Vec<(u32, u32)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let logs = d.docker_ok(&["logs", "peer"]);
    let during: Vec<&str> = logs.lines().skip(before).collect();
    let peer_fail = during.iter().filter(|l| **l == "fail").count();
    eprintln!(
        "127.0.0.1 {:?}, host address {:?}, from a container: {} ok / {peer_fail} failed",
        counts[0],
        counts[1],
        during.len() - peer_fail
    );
    for (ok, bad) in &counts {
        assert!(*ok > 20, "too few requests: {ok}");
        assert_eq!(*bad, 0, "requests failed while the daemon was down or starting");
    }
    assert!(during.len() > 10, "the container's client kept running: {}", during.len());
    assert_eq!(peer_fail, 0, "requests from another container failed");
}
