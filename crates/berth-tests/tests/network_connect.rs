//! `docker network connect/disconnect`, host port ranges and `default-address-pools`, through
//! the docker CLI against a test daemon. User networks get subnets derived from the test daemon's
//! own bridge range so that tests running side by side never share one.

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::time::Duration;

/// A /24 next to the daemon's own bridge range (`10.a.b.1/24` → `10.a.(b+128).0/24`).
fn sibling_subnet(d: &TestDaemon, offset: u32) -> (String, String) {
    let (_, cidr) = d.bridge.clone().expect("test daemons get their own bridge");
    let o: Vec<u32> = cidr.split('/').next().unwrap().split('.').map(|x| x.parse().unwrap()).collect();
    let third = (o[2] + 128 + offset) % 256;
    (format!("{}.{}.{third}.0/24", o[0], o[1]), format!("{}.{}.{third}", o[0], o[1]))
}

/// The address pool files of network `net`, concatenated.
fn ipam_text(d: &TestDaemon, net: &str) -> String {
    std::fs::read_dir(d.data_root.join("network"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("ipam-{net}-")))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

#[test]
fn connect_and_disconnect_running_and_stopped_containers() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-connect").live_restore(true));
    d.busybox_image();
    let (subnet, prefix) = sibling_subnet(&d, 0);
    d.docker_ok(&["network", "create", "--subnet", &subnet, "backend"]);
    let front = d.docker_ok(&["run", "-d", "--name", "front", "busybox", "sleep", "1000"]);
    d.docker_ok(&["run", "-d", "--name", "db", "--network", "backend", "busybox", "sleep", "1000"]);

    d.docker_ok(&["network", "connect", "--alias", "web", "backend", "front"]);
    let ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.backend.IPAddress}}", "front"]);
    assert!(ip.starts_with(&prefix), "{ip} in {subnet}");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{len .NetworkSettings.Networks}}", "front"]), "2");
    let eth1 = d.docker_ok(&["exec", "front", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains(&format!("{ip}/24")), "{eth1}");
    // Both ways by name, and the alias given at connect.
    d.docker_ok(&["exec", "front", "ping", "-c1", "-W2", "db"]);
    d.docker_ok(&["exec", "db", "ping", "-c1", "-W2", "front"]);
    d.docker_ok(&["exec", "db", "ping", "-c1", "-W2", "web"]);
    assert_eq!(d.docker_ok(&["network", "inspect", "-f", "{{len .Containers}}", "backend"]), "2");
    // `--until 0s` is whole seconds, as in Docker: let this second pass first.
    std::thread::sleep(Duration::from_millis(1100));
    let events = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(events.lines().any(|l| l == "connect backend"), "{events}");

    // Docker's refusals, and nothing changes.
    let (code, err) = d.docker_err(&["network", "connect", "backend", "front"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("endpoint with name front already exists in network backend"), "{err}");
    let (_, err) = d.docker_err(&["network", "connect", "host", "front"]);
    assert!(err.contains("connected to host network"), "{err}");
    let (_, err) = d.docker_err(&["network", "connect", "nosuchnet", "front"]);
    assert!(err.contains("network nosuchnet not found"), "{err}");

    // The second interface survives a daemon crash and restart.
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    d.docker_ok(&["exec", "front", "ping", "-c1", "-W2", "db"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.backend.IPAddress}}", "front"]), ip);

    d.docker_ok(&["network", "disconnect", "backend", "front"]);
    assert!(d.docker(&["exec", "front", "ip", "link", "show", "eth1"]).status.code() != Some(0), "eth1 is gone");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{len .NetworkSettings.Networks}}", "front"]), "1");
    assert!(
        d.docker(&["exec", "db", "ping", "-c1", "-W1", "front"]).status.code() != Some(0),
        "db no longer resolves front"
    );
    assert!(
        ipam_text(&d, "backend").contains(d.docker_ok(&["inspect", "-f", "{{.Id}}", "db"]).as_str()),
        "pool file found"
    );
    assert!(!ipam_text(&d, "backend").contains(front.trim()), "the address went back to the pool");
    let (_, err) = d.docker_err(&["network", "disconnect", "backend", "front"]);
    assert!(err.contains("is not connected to network backend"), "{err}");

    // A created container: connected now, attached at start; its address freed at rm.
    let late = d.docker_ok(&["create", "--name", "late", "busybox", "sleep", "1000"]);
    d.docker_ok(&["network", "connect", "backend", "late"]);
    d.docker_ok(&["start", "late"]);
    let late_ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.backend.IPAddress}}", "late"]);
    assert!(late_ip.starts_with(&prefix), "{late_ip} in {subnet}");
    assert!(d.docker_ok(&["exec", "late", "ip", "-o", "-4", "addr", "show", "eth1"]).contains(&late_ip));
    d.docker_ok(&["exec", "db", "ping", "-c1", "-W2", "late"]);
    d.docker_ok(&["rm", "-f", "late"]);
    assert!(!ipam_text(&d, "backend").contains(late.trim()), "rm frees every address of the container");

    let (code, err) = d.docker_err(&["network", "rm", "backend"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has active endpoints"), "{err}");
    d.docker_ok(&["rm", "-f", "db", "front"]);
    d.docker_ok(&["network", "rm", "backend"]);
}

#[test]
fn host_port_ranges_pick_a_free_port_and_map_container_ranges() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-ranges"));
    d.busybox_image();
    // Two consecutive free ports; the test holds the first so the range must skip it.
    let (base, holder) = loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break (p, l);
        }
    };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "-p",
        &format!("127.0.0.1:{base}-{}:80", base + 1),
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(d.docker_ok(&["port", "r1", "80"]), format!("127.0.0.1:{}", base + 1));
    // Every port of the range taken: Docker's error, nothing left behind.
    let (code, err) = d.docker_err(&[
        "run",
        "--rm",
        "--name",
        "r2",
        "-p",
        &format!("127.0.0.1:{base}-{}:80", base + 1),
        "busybox",
        "true",
    ]);
    assert_eq!(code, Some(125));
    assert!(err.contains("port is already allocated"), "{err}");
    assert!(wait_until(Duration::from_secs(5), || d.docker(&["inspect", "r2"]).status.code() == Some(1)));
    drop(holder);
    d.docker_ok(&["rm", "-f", "r1"]);
    // A container range maps one to one onto a host range.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "r3",
        "-p",
        &format!("127.0.0.1:{base}-{}:80-81", base + 1),
        "busybox",
        "sleep",
        "1000",
    ]);
    let ports = d.docker_ok(&["port", "r3"]);
    assert!(
        ports.contains(&format!("80/tcp -> 127.0.0.1:{base}"))
            && ports.contains(&format!("81/tcp -> 127.0.0.1:{}", base + 1)),
        "{ports}"
    );
    d.docker_ok(&["rm", "-f", "r3"]);
}

#[test]
fn default_address_pools_give_user_networks_their_subnets() {
    // The pool is a /24 beside the daemon's own range, cut into /26 networks; the key is read at
    // start, so the daemon is restarted with it.
    let mut d = TestDaemon::start(DaemonOpts::new("net-pools"));
    let (subnet, prefix) = sibling_subnet(&d, 64);
    d.write_config(&format!(r#"{{"default-address-pools": [{{"base": "{subnet}", "size": 26}}]}}"#));
    d.term();
    d.wait_exit(Duration::from_secs(10));
    d.restart();
    d.docker_ok(&["network", "create", "p1"]);
    d.docker_ok(&["network", "create", "p2"]);
    let s1 = d.docker_ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "p1"]);
    let s2 = d.docker_ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "p2"]);
    assert_eq!(s1, format!("{prefix}.0/26"));
    assert_eq!(s2, format!("{prefix}.64/26"));
    d.docker_ok(&["network", "rm", "p1", "p2"]);
}

const WEB: &str = "mkdir -p /www; echo hello-web > /www/index.html; httpd -f -p 80 -h /www";

fn fetch_from(d: &TestDaemon, net: &str, ip: &str, port: &str) -> bool {
    let script = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port} | grep -q hello-web");
    d.docker(&["run", "--rm", "--network", net, "busybox", "sh", "-c", &script]).status.success()
}

/// `-P` publishes every EXPOSEd port on a free host port; `docker port` names it; it answers.
#[test]
fn publish_all_exposed_ports() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-publish-all"));
    d.busybox_image();
    let tar = berth_tests::busybox_tar_path();
    d.import_image(&tar, "web:exposed", &["EXPOSE 80 8081/udp"]);
    d.docker_ok(&["run", "-d", "--name", "web", "-P", "web:exposed", "sh", "-c", WEB]);
    let tcp = d.docker_ok(&["port", "web", "80/tcp"]);
    let udp = d.docker_ok(&["port", "web", "8081/udp"]);
    assert!(tcp.starts_with("0.0.0.0:") && udp.starts_with("0.0.0.0:"), "{tcp} {udp}");
    let port = tcp.lines().next().unwrap().rsplit(':').next().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())) else {
                return false;
            };
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.contains("hello-web")
        }),
        "the -P port answers on 127.0.0.1:{port}"
    );
    d.docker_ok(&["rm", "-f", "web"]);
}

/// An `--internal` network: its members reach each other by name, nothing beyond the bridge.
#[test]
fn internal_network_reaches_peers_only() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-internal"));
    d.busybox_image();
    let (subnet, _) = sibling_subnet(&d, 32);
    d.docker_ok(&["network", "create", "--internal", "--subnet", &subnet, "sealed"]);
    assert_eq!(d.docker_ok(&["network", "inspect", "-f", "{{.Internal}}", "sealed"]), "true");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    d.docker_ok(&["run", "-d", "--name", "web", "-p", &format!("{port}:80"), "busybox", "sh", "-c", WEB]);
    d.docker_ok(&["run", "-d", "--name", "peer", "--network", "sealed", "busybox", "sh", "-c", WEB]);
    let (_, cidr) = d.bridge.clone().unwrap();
    let gw = cidr.split('/').next().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(5), || fetch_from(&d, "bridge", &gw, &port)),
        "control: the port answers from the default bridge"
    );
    assert!(fetch_from(&d, "sealed", "peer", "80"), "members reach each other by name");
    assert!(!fetch_from(&d, "sealed", &gw, &port), "an internal network reaches nothing beyond its bridge");
    d.docker_ok(&["rm", "-f", "web", "peer"]);
    d.docker_ok(&["network", "rm", "sealed"]);
}

/// A container with a published port that dies while the daemon is down: on restore its veth,
/// namespace file and nftables elements go, and its port is free again.
#[test]
fn endpoint_of_a_container_that_died_in_the_outage_is_removed() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-died").live_restore(true));
    d.busybox_image();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let id =
        d.run_detached(&["--name", "brief", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sh", "-c", "sleep 1"]);
    let (bridge, _) = d.bridge.clone().unwrap();
    let table = format!("berth_{}", bridge.replace('-', "_"));
    let rules = || {
        String::from_utf8_lossy(
            &std::process::Command::new("nft").args(["list", "table", "ip", &table]).output().unwrap().stdout,
        )
        .into_owned()
    };
    assert!(rules().contains(&port.to_string()), "published while running");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    d.restart();
    assert!(wait_until(Duration::from_secs(5), || d.state("brief").status == "exited"));
    assert!(wait_until(Duration::from_secs(5), || !rules().contains(&port.to_string())), "its port left the table");
    berth_tests::converge::assert_converged(&d, &[]);
    assert!(!std::path::Path::new(&format!("/sys/class/net/vb{}", &id[..10])).exists());
    d.docker_ok(&["run", "-d", "--name", "again", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "100"]);
    d.docker_ok(&["rm", "-f", "again", "brief"]);
}

/// `--ip` on a user network (at run and at connect), the networks of `EndpointsConfig` beyond
/// `NetworkMode` (joined, or a 404 when one does not exist), endpoint driver options kept and
/// shown, and the short id among the aliases for API < 1.45 clients.
#[test]
fn static_addresses_extra_networks_and_endpoint_options() {
    let mut d = TestDaemon::start(DaemonOpts::new("net-static").live_restore(true));
    d.busybox_image();
    let (subnet_a, prefix_a) = sibling_subnet(&d, 1);
    let (subnet_b, prefix_b) = sibling_subnet(&d, 2);
    d.docker_ok(&["network", "create", "--subnet", &subnet_a, "sa"]);
    d.docker_ok(&["network", "create", "--subnet", &subnet_b, "sb"]);
    let ip = format!("{prefix_a}.77");
    let out =
        d.docker_ok(&["run", "--rm", "--network", "sa", "--ip", &ip, "busybox", "ip", "-4", "addr", "show", "eth0"]);
    assert!(out.contains(&format!("inet {ip}/24")), "{out}");
    // The address is the container's while it exists, and back in the pool after.
    let id = d.docker_ok(&["run", "-d", "--network", "sa", "--ip", &ip, "busybox", "sleep", "100"]);
    let (_, err) = d.docker_err(&["run", "--rm", "--network", "sa", "--ip", &ip, "busybox", "true"]);
    assert!(err.contains(&ip), "a second container got the same address: {err}");
    let v = d.inspect(&id);
    assert_eq!(v["NetworkSettings"]["Networks"]["sa"]["IPAMConfig"]["IPv4Address"], ip.as_str());
    assert_eq!(v["NetworkSettings"]["Networks"]["sa"]["IPAddress"], ip.as_str());
    let (_, err) = d.docker_err(&["run", "--rm", "--ip", &format!("{prefix_a}.78"), "busybox", "true"]);
    assert!(err.contains("user specified IP address is supported on user defined networks only"), "{err}");
    // (The CLI refuses an alias without --network itself; other clients reach the daemon.)
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"],
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}}});
    let r = d.api_post("/containers/create", &body.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("network-scoped alias is supported only for containers in user defined networks"));
    // Driver options on the default bridge are kept and shown too.
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "bridge"},
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"DriverOpts": {"com.example.x": "on"}}}}});
    let r = d.api_post("/containers/create", &body.to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let bid = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(d.inspect(&bid)["NetworkSettings"]["Networks"]["bridge"]["DriverOpts"]["com.example.x"], "on");
    d.docker_ok(&["rm", &bid]);
    let (_, err) =
        d.docker_err(&["run", "--rm", "--network", "sa", "--ip", &format!("{prefix_b}.9"), "busybox", "true"]);
    assert!(err.contains("not in the subnet"), "an address outside the subnet: {err}");
    // Connect with an address, survived by a daemon restart.
    let ip_b = format!("{prefix_b}.66");
    d.docker_ok(&["network", "connect", "--ip", &ip_b, "sb", &id]);
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    let out = d.docker_ok(&["exec", &id, "ip", "-4", "addr"]);
    assert!(out.contains(&format!("inet {ip}/24")) && out.contains(&format!("inet {ip_b}/24")), "{out}");
    d.docker_ok(&["rm", "-f", &id]);
    assert!(!ipam_text(&d, "sa").contains(&ip), "the address was not released: {}", ipam_text(&d, "sa"));

    // Several networks at create, as docker-py (and the CLI with two --network) send them.
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "100"], "HostConfig": {"NetworkMode": "sa"},
        "NetworkingConfig": {"EndpointsConfig": {
            "sa": {"Aliases": ["web"], "DriverOpts": {"key1": "a"}},
            "sb": {"Aliases": ["db"]}}}});
    let r = d.api_post("/v1.44/containers/create?name=multi", &body.to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let old = d.api_get(&format!("/v1.44/containers/{id}/json")).json();
    let nets = &old["NetworkSettings"]["Networks"];
    assert_eq!(nets["sa"]["Aliases"], serde_json::json!(["web", &id[..12]]), "{nets}");
    assert_eq!(nets["sa"]["DriverOpts"], serde_json::json!({"key1": "a"}), "{nets}");
    assert_eq!(nets["sb"]["Aliases"], serde_json::json!(["db", &id[..12]]), "{nets}");
    let new = d.api_get(&format!("/v1.51/containers/{id}/json")).json();
    assert_eq!(new["NetworkSettings"]["Networks"]["sa"]["Aliases"], serde_json::json!(["web"]));
    let dns = &new["NetworkSettings"]["Networks"]["sa"]["DNSNames"];
    assert_eq!(dns, &serde_json::json!(["multi", "web", &id[..12]]), "{dns}");
    d.docker_ok(&["start", &id]);
    let out = d.docker_ok(&["exec", &id, "ip", "-4", "addr"]);
    assert!(out.contains(&format!("inet {prefix_a}.")) && out.contains(&format!("inet {prefix_b}.")), "{out}");
    d.docker_ok(&["rm", "-f", &id]);
    let before = d.docker_ok(&["ps", "-aq"]);
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "sa"},
        "NetworkingConfig": {"EndpointsConfig": {"sa": {}, "nosuch": {}}}});
    let r = d.api_post("/containers/create", &body.to_string());
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("network nosuch not found"), "{}", r.text());
    assert_eq!(d.docker_ok(&["ps", "-aq"]), before, "a refused create left a container");
    d.docker_ok(&["network", "rm", "sa", "sb"]);
}

/// `--link`: on a user-defined network a name only the linking container knows its peer by (the
/// peer may come later); on the default bridge Docker's legacy links (variables, /etc/hosts, the
/// link graph in inspect, `docker rm --link`); refused where they cannot work.
#[test]
fn links_on_user_networks_and_legacy_links_on_the_bridge() {
    let mut d = TestDaemon::start(DaemonOpts::new("links"));
    d.busybox_image();
    d.docker_ok(&["network", "create", "ln"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "ln",
        "--link",
        "upstream:bar",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.docker_ok(&["run", "-d", "--name", "upstream", "--network", "ln", "busybox", "sleep", "1000"]);
    let hosts = d.docker_ok(&["exec", "client", "cat", "/etc/hosts"]);
    let up_ip = d.inspect("upstream")["NetworkSettings"]["Networks"]["ln"]["IPAddress"].as_str().unwrap().to_string();
    assert!(hosts.lines().any(|l| l.starts_with(&up_ip) && l.split_whitespace().any(|n| n == "bar")), "{hosts}");
    d.docker_ok(&["exec", "client", "ping", "-c", "1", "-W", "2", "bar"]);
    let other = d.docker_ok(&["exec", "upstream", "cat", "/etc/hosts"]);
    assert!(!other.split_whitespace().any(|n| n == "bar"), "the alias is the linking container's own: {other}");

    d.docker_ok(&["run", "-d", "--name", "db", "--expose", "5432", "-e", "SECRET=s3", "busybox", "sleep", "1000"]);
    let env = d.docker_ok(&["run", "--rm", "--name", "app", "--link", "db:data", "busybox", "env"]);
    let db_ip = d.inspect("db")["NetworkSettings"]["IPAddress"].as_str().unwrap().to_string();
    for want in [
        format!("DATA_PORT=tcp://{db_ip}:5432"),
        format!("DATA_PORT_5432_TCP_ADDR={db_ip}"),
        "DATA_PORT_5432_TCP_PORT=5432".to_string(),
        "DATA_NAME=/app/data".to_string(),
        "DATA_ENV_SECRET=s3".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in {env}");
    }
    assert!(!env.contains("DATA_ENV_PATH="), "{env}");
    d.docker_ok(&["create", "--name", "app2", "--link", "db:data", "busybox", "sh", "-c", "cat /etc/hosts"]);
    assert_eq!(d.inspect("app2")["HostConfig"]["Links"], serde_json::json!(["/db:/app2/data"]));
    d.docker_ok(&["start", "app2"]);
    d.docker_ok(&["wait", "app2"]);
    let hosts = d.docker_ok(&["logs", "app2"]);
    assert!(hosts.lines().any(|l| l.starts_with(&db_ip) && l.contains("data") && l.contains("db")), "{hosts}");
    d.docker_ok(&["rm", "--link", "/app2/data"]);
    assert!(d.inspect("app2")["HostConfig"]["Links"].is_null());
    // Both containers stay; only the link went.
    assert_eq!(d.inspect("app2")["Name"], "/app2");
    assert!(d.state("db").running);

    let (_, err) = d.docker_err(&["create", "--link", "nosuch:x", "busybox", "true"]);
    assert!(err.contains("could not get container for nosuch"), "{err}");
    let (_, err) = d.docker_err(&["create", "--network", "host", "--link", "db:x", "busybox", "true"]);
    assert!(err.contains("host type networking can't be used with links"), "{err}");
    d.docker_ok(&["stop", "-t", "0", "db"]);
    d.docker_ok(&["create", "--name", "app3", "--link", "db:data", "busybox", "true"]);
    let (_, err) = d.docker_err(&["start", "app3"]);
    assert!(err.contains("Cannot link to a non running container: /db AS /app3/data"), "{err}");
}

/// `--mac-address` (the endpoint's `MacAddress`, or the deprecated `Config.MacAddress`): the
/// container's interface has it, on the default bridge and on a user network; inspect shows it;
/// a MAC the kernel would refuse is a 400.
#[test]
fn mac_addresses_asked_for_are_the_interfaces() {
    let mut d = TestDaemon::start(DaemonOpts::new("mac"));
    d.busybox_image();
    d.docker_ok(&["network", "create", "mn"]);
    for (net, mac) in [("bridge", "92:d0:c6:0a:29:33"), ("mn", "02:42:ac:11:65:43")] {
        let out = d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "--mac-address",
            mac,
            "busybox",
            "cat",
            "/sys/class/net/eth0/address",
        ]);
        assert_eq!(out.trim(), mac, "on {net}");
    }
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "mc",
        "--network",
        "mn",
        "--mac-address",
        "02:42:ac:11:65:44",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(d.inspect("mc")["NetworkSettings"]["Networks"]["mn"]["MacAddress"], "02:42:ac:11:65:44");
    let body = r#"{"Image": "busybox", "Cmd": ["true"], "MacAddress": "02:42:ac:11:65:45"}"#;
    let r = d.api_post("/containers/create", body);
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, err) = d.docker_err(&["create", "--mac-address", "01:00:5e:00:00:01", "busybox", "true"]);
    assert!(err.contains("invalid MAC address"), "multicast: {err}");
    let r = d.api_post("/containers/create", r#"{"Image": "busybox", "Cmd": ["true"], "MacAddress": "nope"}"#);
    assert!(r.status == 400 && r.text().contains("invalid MAC address: nope"), "{}", r.text());
    let (_, err) =
        d.docker_err(&["create", "--network", "none", "--mac-address", "02:42:ac:11:65:46", "busybox", "true"]);
    assert!(err.contains("mac-address"), "{err}");
}

/// `--ip-range` and `--aux-address`: containers get addresses from the range only, an auxiliary
/// address is never handed out (nor taken with `--ip`), inspect shows both, and bad ones are 400s.
#[test]
fn ip_range_and_auxiliary_addresses() {
    let mut d = TestDaemon::start(DaemonOpts::new("iprange"));
    d.busybox_image();
    let (subnet, base) = sibling_subnet(&d, 5);
    let range = format!("{base}.64/27");
    let (gw, aux) = (format!("{base}.254"), format!("{base}.64"));
    let aux_flag = format!("router={aux}");
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--ip-range",
        &range,
        "--gateway",
        &gw,
        "--aux-address",
        &aux_flag,
        "rn",
    ]);
    let net = d.docker_ok(&["network", "inspect", "rn", "-f", "{{json .IPAM.Config}}"]);
    let cfg: serde_json::Value = serde_json::from_str(&net).unwrap();
    assert_eq!(cfg[0]["IPRange"], range.as_str(), "{cfg}");
    assert_eq!(cfg[0]["AuxiliaryAddresses"]["router"], aux.as_str(), "{cfg}");
    d.docker_ok(&["run", "-d", "--name", "r1", "--network", "rn", "busybox", "sleep", "1000"]);
    let ip = d.inspect("r1")["NetworkSettings"]["Networks"]["rn"]["IPAddress"].as_str().unwrap().to_string();
    assert_eq!(ip, format!("{base}.65"), "the first of the range that is not the auxiliary address");
    let (_, err) = d.docker_err(&["run", "--rm", "--network", "rn", "--ip", &aux, "busybox", "true"]);
    assert!(err.contains("reserved"), "{err}");
    let out = d.docker_ok(&["exec", "r1", "ip", "route"]);
    assert!(out.contains(&format!("default via {gw}")), "{out}");
    // The CLI checks this itself: the API is asked.
    let (outside, _) = sibling_subnet(&d, 6);
    let body = serde_json::json!({"Name": "rn2", "IPAM": {"Config": [{"Subnet": outside, "IPRange": range}]}});
    let r = d.api_post("/networks/create", &body.to_string());
    assert!(r.status == 400 && r.text().contains("not inside subnet"), "{}", r.text());
}
