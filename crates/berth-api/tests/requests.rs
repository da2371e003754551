//! Request bodies a client may send, with every field API 1.51 documents: each parses, keeps
//! every field on a round trip (so the daemon can refuse an unimplemented one by name),
//! accepts `null` where clients send it, and refuses a wrong type.

mod common;

use berth_api::*;
use common::{rejects, roundtrip, roundtrip_to, with};
use serde_json::{json, Value};

/// `POST /containers/create` with every documented field set.
fn full_create() -> Value {
    json!({
        "Hostname": "web", "Domainname": "example.org", "User": "1000:1000",
        "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": ["FOO=bar", "BAZ=quux"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000_i64,
            "Timeout": 5_000_000_000_i64, "Retries": 3, "StartPeriod": 1000000000, "StartInterval": 500000000},
        "ArgsEscaped": false,
        "Image": "nginx:1.27",
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Entrypoint": ["/docker-entrypoint.sh"],
        "NetworkDisabled": false,
        "MacAddress": "02:42:ac:11:00:02",
        "OnBuild": [],
        "Labels": {"com.example.vendor": "Acme"},
        "StopSignal": "SIGTERM",
        "StopTimeout": 10,
        "Shell": ["/bin/sh", "-c"],
        "HostConfig": full_host_config(),
        "NetworkingConfig": {"EndpointsConfig": {"isolated_nw": full_endpoint()}}
    })
}

fn full_endpoint() -> Value {
    json!({
        "IPAMConfig": {"IPv4Address": "172.20.30.33", "IPv6Address": "2001:db8:abcd::3033",
            "LinkLocalIPs": ["169.254.34.68", "fe80::3468"]},
        "Links": ["container_1", "container_2"],
        "Aliases": ["server_x", "server_y"],
        "MacAddress": "02:42:ac:11:00:04",
        "DriverOpts": {"com.example.some-label": "some-value"},
        "GwPriority": 10,
        "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": ["web", "web.internal"]
    })
}

fn full_resources() -> Value {
    json!({
        "CpuShares": 512, "Memory": 314572800, "NanoCpus": 0, "CgroupParent": "/docker",
        "BlkioWeight": 300,
        "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 200}],
        "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
        "BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 1048576}],
        "BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 1000}],
        "BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": 1000}],
        "CpuPeriod": 100000, "CpuQuota": 50000, "CpuRealtimePeriod": 1000000, "CpuRealtimeRuntime": 10000,
        "CpusetCpus": "0,1", "CpusetMems": "0",
        "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "mrw"}],
        "DeviceCgroupRules": ["c 13:* rwm"],
        "DeviceRequests": [{"Driver": "nvidia", "Count": -1, "DeviceIDs": ["0", "1", "GPU-fef8089b"],
            "Capabilities": [["gpu", "nvidia", "compute"]], "Options": {"property1": "string"}}],
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 209715200, "MemorySwap": 514288000, "MemorySwappiness": 60,
        "OomKillDisable": false, "PidsLimit": 100,
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0
    })
}

fn full_host_config() -> Value {
    let mut h = full_resources();
    let rest = json!({
        "Binds": ["/srv/www:/usr/share/nginx/html:ro", "data:/data"],
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
        "NetworkMode": "isolated_nw",
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": null},
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 4},
        "AutoRemove": false,
        "VolumeDriver": "",
        "VolumesFrom": ["parent:ro"],
        "Mounts": [
            {"Target": "/bind", "Source": "/srv/bind", "Type": "bind", "ReadOnly": true, "Consistency": "cached",
             "BindOptions": {"Propagation": "rslave", "NonRecursive": true, "CreateMountpoint": true,
                "ReadOnlyNonRecursive": true, "ReadOnlyForceRecursive": true}},
            {"Target": "/vol", "Source": "cache", "Type": "volume",
             "VolumeOptions": {"NoCopy": true, "Labels": {"k": "v"},
                "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}, "Subpath": "sub/dir"}},
            {"Target": "/img", "Source": "busybox:latest", "Type": "image", "ImageOptions": {"Subpath": "bin"}},
            {"Target": "/tmp", "Type": "tmpfs",
             "TmpfsOptions": {"SizeBytes": 65536, "Mode": 1023, "Options": [["noexec"], ["uid", "1000"]]}}
        ],
        "ConsoleSize": [24, 80],
        "Annotations": {"io.kubernetes.docker.type": "container"},
        "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
        "CgroupnsMode": "private",
        "Dns": ["8.8.8.8"], "DnsOptions": ["ndots:2"], "DnsSearch": ["example.org"],
        "ExtraHosts": ["db:10.0.0.5"], "GroupAdd": ["audio"],
        "IpcMode": "private", "Cgroup": "", "Links": ["db:db"], "OomScoreAdj": 500, "PidMode": "",
        "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": true,
        "SecurityOpt": ["no-new-privileges"],
        "StorageOpt": {"size": "120G"},
        "Tmpfs": {"/run": "rw,noexec,nosuid,size=65536k"},
        "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
        "Sysctls": {"net.ipv4.ip_forward": "1"},
        "Runtime": "runc",
        "Isolation": "default",
        "MaskedPaths": ["/proc/kcore"], "ReadonlyPaths": ["/proc/sys"],
        "Init": true
    });
    h.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
    h
}

#[test]
fn create_keeps_every_documented_field() {
    let r: ContainerCreateRequest = roundtrip(full_create());
    let (c, h, n) = r.split();
    assert_eq!(c.healthcheck.unwrap().start_interval, Some(500_000_000));
    assert_eq!(
        h.resources.device_requests.unwrap()[0].capabilities,
        Some(vec![vec!["gpu".to_string(), "nvidia".into(), "compute".into()]])
    );
    assert_eq!(h.resources.blkio_device_write_iops.unwrap()[0].rate, 1000);
    let mounts = h.mounts.unwrap();
    assert_eq!(mounts[1].volume_options.as_ref().unwrap().subpath, "sub/dir");
    assert_eq!(mounts[2].image_options.as_ref().unwrap().subpath, "bin");
    assert_eq!(mounts[3].tmpfs_options.as_ref().unwrap().mode, Some(0o1777));
    assert_eq!(h.init, Some(true));
    let ep = &n.endpoints_config.unwrap()["isolated_nw"];
    assert_eq!(ep.gw_priority, 10);
    assert_eq!(ep.ipam_config.as_ref().unwrap().link_local_ips.as_ref().unwrap().len(), 2);
}

#[test]
fn create_accepts_client_nulls() {
    // docker-py sends None for every unset key, nested ones too.
    let body = json!({
        "Image": "busybox", "Hostname": null, "User": null, "Tty": null, "Env": null, "Cmd": null,
        "Entrypoint": null, "Shell": null, "Labels": null, "StopTimeout": null, "Healthcheck": null,
        "HostConfig": {"Memory": null, "CpuShares": null, "PidsLimit": null, "RestartPolicy": null,
            "LogConfig": null, "CapAdd": null, "Mounts": null, "DeviceRequests": null, "Init": null,
            "Runtime": null, "MaskedPaths": null, "Ulimits": [{"Name": "nofile", "Soft": null, "Hard": 10}]},
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": null, "Aliases": null,
            "MacAddress": null, "GwPriority": null, "DriverOpts": null}}}
    });
    let r: ContainerCreateRequest = serde_json::from_value(body).unwrap();
    let (c, h, n) = r.split();
    assert_eq!((c.hostname.as_str(), c.tty, c.cmd), ("", false, None));
    assert_eq!((h.resources.memory, h.resources.pids_limit), (0, None));
    assert_eq!(h.restart_policy, RestartPolicy::default());
    assert_eq!(h.resources.ulimits.unwrap()[0].soft, 0);
    assert_eq!(n.endpoints_config.unwrap()["bridge"].gw_priority, 0);
}

#[test]
fn create_refuses_wrong_types() {
    let full = full_create();
    for (path, key, bad) in [
        ("/HostConfig", "DeviceRequests", json!([{"Count": "all"}])),
        ("/HostConfig", "CapAdd", json!([1])),
        ("/HostConfig", "Mounts", json!([{"Type": "volume", "VolumeOptions": {"NoCopy": "yes"}}])),
        ("/HostConfig", "Mounts", json!([{"Type": "image", "ImageOptions": {"Subpath": 3}}])),
        ("/HostConfig", "Ulimits", json!([{"Name": "nofile", "Soft": "1024"}])),
        ("/HostConfig", "BlkioDeviceReadBps", json!([{"Path": "/dev/sda", "Rate": -1}])),
        ("/HostConfig", "Init", json!("yes")),
        ("/NetworkingConfig/EndpointsConfig/isolated_nw", "GwPriority", json!("10")),
        ("/NetworkingConfig/EndpointsConfig/isolated_nw", "IPAMConfig", json!({"LinkLocalIPs": "fe80::1"})),
        ("", "Healthcheck", json!({"Interval": "30s"})),
    ] {
        rejects::<ContainerCreateRequest>(with(full.clone(), path, key, bad));
    }
}

#[test]
fn cap_add_accepts_a_lone_string() {
    let r: ContainerCreateRequest =
        serde_json::from_value(json!({"Image": "x", "HostConfig": {"CapAdd": "NET_ADMIN", "CapDrop": ["ALL"]}}))
            .unwrap();
    let h = r.host_config.unwrap();
    assert_eq!(h.cap_add.unwrap(), ["NET_ADMIN"]);
    assert_eq!(h.cap_drop.unwrap(), ["ALL"]);
}

#[test]
fn update_body_is_resources_and_restart_policy() {
    let body = with(full_resources(), "", "RestartPolicy", json!({"Name": "on-failure", "MaximumRetryCount": 4}));
    let u: ContainerUpdateRequest = roundtrip(body);
    assert_eq!(u.resources.cpu_quota, 50_000);
    assert_eq!(u.restart_policy.unwrap().maximum_retry_count, 4);
    // The docker CLI's `docker update --memory 300m` body: no RestartPolicy means "unchanged".
    let u: ContainerUpdateRequest = serde_json::from_value(json!({"Memory": 314572800, "PidsLimit": null})).unwrap();
    assert_eq!((u.resources.memory, u.restart_policy), (314_572_800, None));
    rejects::<ContainerUpdateRequest>(json!({"RestartPolicy": {"Name": 1}}));
    rejects::<ContainerUpdateRequest>(json!({"CpusetCpus": 3}));
}

#[test]
fn exec_config_keeps_every_field() {
    let e: ExecConfig = roundtrip(json!({
        "User": "root", "Privileged": true, "Tty": true, "ConsoleSize": [80, 64],
        "AttachStdin": true, "AttachStderr": true, "AttachStdout": true, "Detach": false,
        "DetachKeys": "ctrl-p,ctrl-q", "Env": ["FOO=bar", "BAZ=quux"], "WorkingDir": "/tmp",
        "Cmd": ["date"]
    }));
    assert_eq!(e.console_size, Some(vec![80, 64]));
    let e: ExecConfig =
        serde_json::from_value(json!({"Cmd": ["sh"], "ConsoleSize": null, "DetachKeys": null, "User": null})).unwrap();
    assert_eq!((e.console_size, e.detach_keys.as_str()), (None, ""));
    rejects::<ExecConfig>(json!({"Cmd": ["sh"], "ConsoleSize": "80x64"}));
    rejects::<ExecConfig>(json!({"Cmd": ["sh"], "Privileged": 1}));
}

#[test]
fn exec_start_config() {
    let s: ExecStartConfig = roundtrip(json!({"Detach": false, "Tty": true, "ConsoleSize": [80, 64]}));
    assert!(s.tty);
    roundtrip_to::<ExecStartConfig>(
        json!({"Detach": null, "Tty": null, "ConsoleSize": null}),
        json!({"Detach": false, "Tty": false}),
    );
    rejects::<ExecStartConfig>(json!({"Detach": "true"}));
}

#[test]
fn network_create_keeps_every_field() {
    let n: NetworkCreateRequest = roundtrip(json!({
        "Name": "my_network", "CheckDuplicate": true, "Driver": "bridge", "Scope": "local",
        "Internal": true, "Attachable": true, "Ingress": false, "ConfigOnly": false,
        "ConfigFrom": {"Network": "config_only_network_01"},
        "IPAM": {"Driver": "default",
            "Config": [{"Subnet": "172.20.0.0/16", "IPRange": "172.20.10.0/24", "Gateway": "172.20.10.11",
                "AuxiliaryAddresses": {"host1": "172.20.10.12"}},
                {"Subnet": "2001:db8:abcd::/64", "Gateway": "2001:db8:abcd::1011"}],
            "Options": {"foo": "bar"}},
        "EnableIPv4": true, "EnableIPv6": true,
        "Options": {"com.docker.network.bridge.enable_icc": "true", "com.docker.network.driver.mtu": "1500"},
        "Labels": {"com.example.some-label": "some-value"}
    }));
    assert_eq!(n.config_from.unwrap().network, "config_only_network_01");
    // docker-py: create_network("n") sends its optional keys as null.
    let n: NetworkCreateRequest = serde_json::from_value(json!({"Name": "n", "Driver": null, "Options": null,
        "IPAM": null, "CheckDuplicate": null, "Internal": null, "Labels": null, "EnableIPv6": null,
        "Attachable": null, "Scope": null, "Ingress": null}))
    .unwrap();
    assert_eq!(n, NetworkCreateRequest { name: "n".into(), ..Default::default() });
    rejects::<NetworkCreateRequest>(json!({"Name": "n", "EnableIPv4": "yes"}));
    rejects::<NetworkCreateRequest>(json!({"Name": "n", "ConfigFrom": "other"}));
    rejects::<NetworkCreateRequest>(json!({"Name": "n", "IPAM": {"Config": [{"Subnet": 10}]}}));
}

#[test]
fn network_connect_and_disconnect() {
    let c: NetworkConnectRequest = roundtrip(json!({"Container": "3613f73ba0e4", "EndpointConfig": full_endpoint()}));
    assert_eq!(c.endpoint_config.unwrap().aliases.unwrap(), ["server_x", "server_y"]);
    let c: NetworkConnectRequest = roundtrip(json!({"Container": "3613f73ba0e4"}));
    assert!(c.endpoint_config.is_none());
    let d: NetworkDisconnectRequest = roundtrip(json!({"Container": "3613f73ba0e4", "Force": true}));
    assert!(d.force);
    let d: NetworkDisconnectRequest = serde_json::from_value(json!({"Container": "c", "Force": null})).unwrap();
    assert!(!d.force);
    rejects::<NetworkConnectRequest>(json!({"Container": "c", "EndpointConfig": {"Aliases": "a"}}));
    rejects::<NetworkDisconnectRequest>(json!({"Container": 5}));
}

#[test]
fn volume_create_keeps_every_field() {
    let v: VolumeCreateRequest = roundtrip(json!({
        "Name": "tardis", "Driver": "custom",
        "DriverOpts": {"device": "tmpfs", "o": "size=100m,uid=1000", "type": "tmpfs"},
        "Labels": {"com.example.some-label": "some-value"},
        "ClusterVolumeSpec": {"Group": "group1", "AccessMode": {"Scope": "single", "Sharing": "none",
            "MountVolume": {}}, "Availability": "active"}
    }));
    assert_eq!(v.cluster_volume_spec.unwrap()["Group"], "group1");
    let v: VolumeCreateRequest =
        serde_json::from_value(json!({"Name": null, "Driver": null, "DriverOpts": null, "Labels": null})).unwrap();
    assert_eq!(v, VolumeCreateRequest::default());
    rejects::<VolumeCreateRequest>(json!({"DriverOpts": {"size": 100}}));
}

#[test]
fn auth_config_keeps_every_field() {
    let a: AuthConfig = roundtrip(json!({
        "username": "hannibal", "password": "xxxx", "auth": "aGFubmliYWw6eHh4eA==",
        "email": "hannibal@a-team.com", "serveraddress": "https://index.docker.io/v1/",
        "identitytoken": "9cbaf023786cd7", "registrytoken": "eyJhbGciOi"
    }));
    assert_eq!(a.server_address, "https://index.docker.io/v1/");
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("xxxx") && !dbg.contains("9cbaf023786cd7") && dbg.contains("hannibal"));
    // Go's omitempty: nothing is sent for unset fields.
    let a: AuthConfig = roundtrip_to(
        json!({"username": "u", "password": "p", "email": null, "serveraddress": "localhost:5000"}),
        json!({"username": "u", "password": "p", "serveraddress": "localhost:5000"}),
    );
    assert_eq!(a.email, "");
    rejects::<AuthConfig>(json!({"username": ["u"]}));
}

#[test]
fn exec_detach_keys_in_docker_pys_spelling() {
    let c: berth_api::ExecConfig = serde_json::from_value(json!({"Cmd": ["cat"], "detachKeys": "ctrl-p"})).unwrap();
    assert_eq!(c.detach_keys, "ctrl-p");
    let c: berth_api::ExecConfig = serde_json::from_value(json!({"Cmd": ["cat"], "DetachKeys": "ctrl-x"})).unwrap();
    assert_eq!(c.detach_keys, "ctrl-x");
}
