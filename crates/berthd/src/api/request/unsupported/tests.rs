use super::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

fn create(body: Value) -> Result<(), String> {
    let r: wire::ContainerCreateRequest = serde_json::from_value(body).unwrap();
    let (c, h, n) = r.split();
    refuse_create(&c, &h, &n).map_err(|e| message(e, StatusCode::BAD_REQUEST))
}

/// The refusal's message, after checking it is the 400 Docker gives for an unknown field.
fn message(e: ApiError, status: StatusCode) -> String {
    assert_eq!(e.status, status, "{}", e.message);
    e.message
}

fn host(h: Value) -> Result<(), String> {
    create(json!({"Image": "busybox", "HostConfig": h}))
}

#[test]
fn defaults_pass_and_values_are_refused_by_name() {
    let cli = json!({"VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "BlkioWeight": 0,
        "BlkioWeightDevice": [], "MemorySwappiness": -1, "OomKillDisable": false, "Isolation": "", "Links": null});
    host(cli).unwrap();
    create(json!({"OnBuild": null, "Healthcheck": {"Test": ["NONE"]}, "HostConfig": {"Isolation": "default"}}))
        .unwrap();
    let e = host(json!({"KernelMemoryTCP": 1024})).unwrap_err();
    assert!(e.starts_with("HostConfig.KernelMemoryTCP is not supported by Berth (given: 1024)"), "{e}");
    // Swappiness is applied at create (cgroup v1; the engine refuses it on v2).
    host(json!({"MemorySwappiness": 0})).unwrap();
    let e = host(json!({"Capabilities": ["CAP_NET_ADMIN"]})).unwrap_err();
    assert!(e.contains("HostConfig.Capabilities"), "{e}");
    // A MAC address is taken (the engine puts it on the primary network's endpoint).
    create(json!({"MacAddress": "02:42:ac:11:00:02"})).unwrap();
    // Health checks run (the monitor probes); Shell, which would pick their shell, is refused.
    create(json!({"Healthcheck": {"Test": ["CMD", "true"]}})).unwrap();
    let e = create(json!({"Shell": ["/bin/bash", "-c"]})).unwrap_err();
    assert!(e.contains("Config.Shell"), "{e}");
}

#[test]
fn mount_and_endpoint_options_are_refused_by_name() {
    let mount = |m: Value| host(json!({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v"}, m]}));
    mount(json!({"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {"Propagation": "rshared"}}))
        .unwrap();
    mount(json!({"Type": "volume", "Target": "/w", "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"}}})).unwrap();
    for (m, name) in [
        (
            json!({"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {"NonRecursive": true}}),
            "HostConfig.Mounts[1].BindOptions.NonRecursive",
        ),
        (
            json!({"Type": "volume", "Target": "/w", "VolumeOptions": {"DriverConfig": {"Name": "convoy"}}}),
            "HostConfig.Mounts[1].VolumeOptions.DriverConfig",
        ),
        (
            json!({"Type": "volume", "Target": "/w", "VolumeOptions": {"Subpath": "sub"}}),
            "HostConfig.Mounts[1].VolumeOptions.Subpath",
        ),
        (
            json!({"Type": "tmpfs", "Target": "/w", "TmpfsOptions": {"Options": [["noexec"]]}}),
            "HostConfig.Mounts[1].TmpfsOptions.Options",
        ),
    ] {
        let e = mount(m).unwrap_err();
        assert!(e.starts_with(&format!("{name} is not supported by Berth")), "{e}");
    }
    let ep = |e: Value| create(json!({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"front": e}}}));
    ep(json!({"Aliases": ["web"], "IPAMConfig": null, "MacAddress": "", "GwPriority": 0})).unwrap();
    ep(json!({"IPAMConfig": {"IPv4Address": "10.9.0.9"}, "DriverOpts": {"key1": "a"}})).unwrap();
    ep(json!({"IPAMConfig": {"IPv6Address": "fd00::9"}})).unwrap();
    let e = ep(json!({"DriverOpts": {"com.docker.network.endpoint.ifname": "e9"}})).unwrap_err();
    assert!(e.starts_with("NetworkingConfig.EndpointsConfig.front.DriverOpts is not supported"), "{e}");
    // Links are names on a user-defined network (the engine refuses them on the default bridge).
    ep(json!({"Links": ["db:db"]})).unwrap();
}

#[test]
fn update_refuses_what_it_cannot_change() {
    let update =
        |b: Value| refuse_update(&serde_json::from_value(b).unwrap()).map_err(|e| message(e, StatusCode::BAD_REQUEST));
    // What `docker update --memory 64m` sends: the whole Resources, zeros for the rest.
    update(json!({"Memory": 67108864, "BlkioWeight": 0, "CpusetCpus": "", "MemorySwappiness": null,
        "Ulimits": null, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}))
    .unwrap();
    let e = update(json!({"CpusetCpus": "0"})).unwrap_err();
    assert!(e.starts_with("CpusetCpus is not supported by Berth"), "{e}");
    let e = update(json!({"BlkioWeight": 300})).unwrap_err();
    assert!(e.starts_with("BlkioWeight is not supported by Berth"), "{e}");
    let e = update(json!({"MemorySwappiness": 10})).unwrap_err();
    assert!(e.starts_with("MemorySwappiness is not supported by Berth"), "{e}");
}

#[test]
fn network_create_takes_one_bridge_subnet_per_family() {
    let net =
        |b: Value| refuse_network(&serde_json::from_value(b).unwrap()).map_err(|e| message(e, StatusCode::BAD_REQUEST));
    // What `docker network create --subnet 10.9.0.0/24 n` sends (CLI 28).
    net(
        json!({"Name": "n", "Driver": "bridge", "Scope": "", "EnableIPv6": null, "Internal": false, "Attachable": false,
        "Ingress": false, "ConfigOnly": false, "ConfigFrom": null, "Options": {}, "Labels": {},
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24"}]}}),
    )
    .unwrap();
    // Dual stack: one pool of each family.
    net(json!({"Name": "n", "EnableIPv6": true,
        "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "fd00:9::/64", "Gateway": "fd00:9::1"}]}}))
    .unwrap();
    for (body, name) in [
        (json!({"Name": "n", "Scope": "swarm"}), "Scope"),
        (
            json!({"Name": "n", "Options": {"com.docker.network.driver.mtu": "1400"}}),
            "Options.com.docker.network.driver.mtu",
        ),
        (json!({"Name": "n", "IPAM": {"Driver": "dhcp"}}), "IPAM.Driver"),
        (
            json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "10.9.1.0/24"}]}}),
            "IPAM.Config",
        ),
        (
            json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd00:1::/64"}, {"Subnet": "fd00:2::/64"}]}}),
            "IPAM.Config",
        ),
        (json!({"Name": "n", "ConfigFrom": {"Network": "other"}}), "ConfigFrom"),
    ] {
        let e = net(body).unwrap_err();
        assert!(e.starts_with(&format!("{name} is not supported by Berth")), "{e}");
    }
    // A pool's IPRange and AuxiliaryAddresses are taken (the engine checks they lie in its subnet).
    net(json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25",
        "AuxiliaryAddresses": {"r": "10.9.0.2"}}]}}))
    .unwrap();
}
