//! System answers: `/info`, `/version`, `/events`, `/system/df`, `/auth`, `/build/prune`,
//! and the error body.

#![recursion_limit = "256"]

mod common;

use berth_api::*;
use common::{rejects, roundtrip, roundtrip_to, with};
use serde_json::{json, Value};

fn info() -> Value {
    json!({
        "ID": "7TRN:IPZB:QYBB:VPBQ:UWYL:KPKY:7ZSE:4JKR:BVOR:UMIV:5MLA:NQMB",
        "Containers": 14, "ContainersRunning": 3, "ContainersPaused": 1, "ContainersStopped": 10, "Images": 508,
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
            "Authorization": null, "Log": ["awslogs", "fluentd", "json-file", "local"]},
        "MemoryLimit": true, "SwapLimit": true, "KernelMemoryTCP": false, "CpuCfsPeriod": true, "CpuCfsQuota": true,
        "CPUShares": true, "CPUSet": true, "PidsLimit": true, "OomKillDisable": false, "IPv4Forwarding": true,
        "Debug": false, "NFd": 64, "NGoroutines": 174, "SystemTime": "2025-06-30T09:12:00.000000001Z",
        "LoggingDriver": "json-file", "CgroupDriver": "systemd", "CgroupVersion": "2", "NEventsListener": 0,
        "KernelVersion": "6.8.0-31-generic", "OperatingSystem": "Ubuntu 24.04 LTS", "OSVersion": "24.04",
        "OSType": "linux", "Architecture": "x86_64", "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": ["https://hub-mirror.corp.example.com:5000/"],
                "Secure": true, "Official": true},
                "localhost:5000": {"Name": "localhost:5000", "Mirrors": [], "Secure": false, "Official": false}},
            "Mirrors": ["https://hub-mirror.corp.example.com:5000/"]},
        "NCPU": 4, "MemTotal": 2_095_882_240_i64,
        "GenericResources": null,
        "DockerRootDir": "/var/lib/berth", "HttpProxy": "http://xxxxx:xxxxx@proxy.corp.example.com:8080",
        "HttpsProxy": "", "NoProxy": "*.local, 169.254/16", "Name": "node5.corp.example.com",
        "Labels": ["storage=ssd", "production"], "ExperimentalBuild": false, "ServerVersion": "28.3.0",
        "Runtimes": {"runc": {"path": "runc"},
            "crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--systemd-cgroup"], "status": {"org.opencontainers.runtime-spec.features": "{}"}}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
            "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": false, "Isolation": "", "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "cfb82a876ecc11b5ca0977d1733adbe58599088a"},
        "RuncCommit": {"ID": "v1.2.5-0-g59923ef"}, "InitCommit": {"ID": "de40ad0"},
        "SecurityOptions": ["name=apparmor", "name=seccomp,profile=default", "name=cgroupns"],
        "ProductLicense": "Community Engine",
        "DefaultAddressPools": [{"Base": "10.10.0.0/16", "Size": 24}],
        "FirewallBackend": {"Driver": "iptables", "Info": [["ReloadedAt", "2025-01-01T00:00:00Z"]]},
        "CDISpecDirs": ["/etc/cdi", "/var/run/cdi"],
        "DiscoveredDevices": [{"Source": "cdi", "ID": "vendor.com/gpu=0"}],
        "Containerd": {"Address": "/run/containerd/containerd.sock",
            "Namespaces": {"Containers": "moby", "Plugins": "plugins.moby"}},
        "Warnings": ["WARNING: No memory limit support"]
    })
}

#[test]
fn info_round_trip() {
    let i: Info = roundtrip(info());
    let reg = i.registry_config.unwrap();
    assert!(!reg.index_configs.unwrap()["localhost:5000"].secure);
    assert_eq!(i.containerd.unwrap().namespaces.plugins, "plugins.moby");
    assert_eq!(i.discovered_devices.unwrap()[0].id, "vendor.com/gpu=0");
    assert_eq!(i.kernel_memory_tcp, Some(false));
    // A swarm manager's Swarm section.
    let swarm = json!({"NodeID": "k67qz4598weg5unwwffg6z1m1", "NodeAddr": "10.0.0.46", "LocalNodeState": "active",
        "ControlAvailable": true, "Error": "", "RemoteManagers": [{"NodeID": "71izy0goik036k48jg985xnds",
        "Addr": "10.0.0.158:2377"}], "Nodes": 4, "Managers": 3, "Cluster": {"ID": "abajmipo7b4xz5ip2nrla6b11"}});
    let i: Info = roundtrip(with(info(), "", "Swarm", swarm));
    assert_eq!(i.swarm.remote_managers.unwrap()[0].addr, "10.0.0.158:2377");
    rejects::<Info>(with(info(), "", "NCPU", json!("4")));
    rejects::<Info>(with(info(), "", "DriverStatus", json!([["only one"]])));
    rejects::<Info>(with(info(), "/RegistryConfig", "IndexConfigs", json!([])));
}

#[test]
fn info_omits_what_go_omits() {
    let mut v = info();
    for k in [
        "KernelMemoryTCP",
        "ProductLicense",
        "DefaultAddressPools",
        "FirewallBackend",
        "DiscoveredDevices",
        "Containerd",
    ] {
        v.as_object_mut().unwrap().remove(k);
    }
    v["RegistryConfig"] = Value::Null;
    let i: Info = roundtrip(v);
    assert!(i.containerd.is_none() && i.registry_config.is_none());
}

#[test]
fn version_round_trip() {
    let v: Version = roundtrip(json!({
        "Platform": {"Name": "Berth Engine"},
        "Components": [{"Name": "Engine", "Version": "28.3.0", "Details": {"ApiVersion": "1.51",
            "Arch": "amd64", "BuildTime": "2025-06-24T15:44:12.000000000+00:00", "Experimental": "false",
            "GitCommit": "bf37a1b", "GoVersion": "go1.24.4", "KernelVersion": "6.8.0", "MinAPIVersion": "1.24",
            "Os": "linux"}}, {"Name": "runc", "Version": "1.2.5"}],
        "Version": "28.3.0", "ApiVersion": "1.51", "MinAPIVersion": "1.24", "GitCommit": "bf37a1b",
        "GoVersion": "go1.24.4", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.8.0",
        "Experimental": true, "BuildTime": "2025-06-24T15:44:12.000000000+00:00"
    }));
    assert_eq!(v.components.unwrap()[1].details, None);
    // Experimental, KernelVersion, BuildTime and MinAPIVersion are omitempty.
    roundtrip_to::<Version>(
        json!({"Platform": {"Name": ""}, "Version": "1", "ApiVersion": "1.51", "GitCommit": "", "GoVersion": "",
            "Os": "linux", "Arch": "arm64", "Experimental": false, "KernelVersion": "", "Components": null}),
        json!({"Platform": {"Name": ""}, "Version": "1", "ApiVersion": "1.51", "GitCommit": "", "GoVersion": "",
            "Os": "linux", "Arch": "arm64"}),
    );
    rejects::<Version>(json!({"ApiVersion": 1.51}));
}

#[test]
fn event_messages() {
    let e: EventMessage = roundtrip(json!({
        "status": "start", "id": "ede54ee1afda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c743",
        "from": "alpine:latest", "Type": "container", "Action": "start",
        "Actor": {"ID": "ede54ee1afda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c743",
            "Attributes": {"com.example.some-label": "some-label-value", "image": "alpine:latest", "name": "my-container"}},
        "scope": "local", "time": 1_461_943_101, "timeNano": 1_461_943_101_381_709_551_i64
    }));
    assert_eq!(e.actor.attributes["name"], "my-container");
    // Network and volume events carry no legacy fields.
    let e: EventMessage = roundtrip(json!({"Type": "network", "Action": "connect",
        "Actor": {"ID": "7dc8ac97d5d29ef6c31b6052f3938c1e8f2749abbd17d1bd1febf2608db1b474",
            "Attributes": {"container": "ede54ee1", "name": "bridge", "type": "bridge"}},
        "scope": "local", "time": 1_461_943_101, "timeNano": 1_461_943_101_394_865_557_i64}));
    assert!(e.status.is_none() && e.from.is_none());
    let e: EventMessage = serde_json::from_value(json!({"Type": "daemon", "Action": "reload",
        "Actor": {"ID": "x", "Attributes": null}, "time": 1, "timeNano": 1}))
    .unwrap();
    assert!(e.actor.attributes.is_empty());
    rejects::<EventMessage>(json!({"Type": "container", "time": "1461943101"}));
    rejects::<EventMessage>(json!({"Type": "container", "Actor": {"Attributes": {"exitCode": 0}}}));
}

#[test]
fn system_df_round_trip() {
    let d: SystemDfResponse = roundtrip(json!({
        "LayersSize": 1_092_588,
        "Images": [{"Id": "sha256:2b8fd9751c4c0f5dd266fcae00707e67a2545ef34f9a29354585f93dac906749", "ParentId": "",
            "RepoTags": ["busybox:latest"], "RepoDigests": ["busybox@sha256:a59906e33509d14c036c8678d687bd4eec81ed7c4b8ce907b888c607f6a1e0e6"],
            "Created": 1_466_724_217, "Size": 1_092_588, "SharedSize": 0, "Labels": {}, "Containers": 1}],
        "Containers": [{"Id": "e575172ed11d", "Names": ["/top"], "Image": "busybox",
            "ImageID": "sha256:2b8fd9751c4c0f5dd266fcae00707e67a2545ef34f9a29354585f93dac906749", "Command": "top",
            "Created": 1_472_592_424, "Ports": [], "SizeRw": 0, "SizeRootFs": 1_092_588, "Labels": {}, "State": "exited",
            "Status": "Exited (0) 56 minutes ago", "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {}}, "Mounts": []}],
        "Volumes": [{"Name": "my-volume", "Driver": "local", "Mountpoint": "/var/lib/berth/volumes/my-volume/_data",
            "Labels": {}, "Scope": "local", "Options": {}, "UsageData": {"Size": 10_920_104, "RefCount": 2}}],
        "BuildCache": [{"ID": "hw53o5aio51xtltp5xjp8v7fx", "Parents": [], "Type": "regular",
            "Description": "pulled from docker.io/library/debian@sha256:234cb88d3020898631af0ccbbcca9a66ae7306ecd30c9720690858c1b007d2a0",
            "InUse": false, "Shared": true, "Size": 0, "CreatedAt": "2021-06-28T13:31:01.474619385Z",
            "LastUsedAt": "2021-07-07T22:02:32.738075951Z", "UsageCount": 26},
            {"ID": "ndlpt0hhvkqcdfkputsk4cq9c", "Parents": ["hw53o5aio51xtltp5xjp8v7fx"], "Type": "exec.cachemount",
             "Description": "mount / from exec /bin/sh -c apt-get update", "InUse": true, "Shared": false,
             "Size": 51, "CreatedAt": "2021-06-28T13:31:03.002625487Z", "LastUsedAt": null, "UsageCount": 0}]
    }));
    assert_eq!(d.volumes.unwrap()[0].usage_data.as_ref().unwrap().ref_count, 2);
    assert_eq!(d.build_cache.unwrap()[1].last_used_at, None);
    // `?type=volume`: the other lists are null.
    let d: SystemDfResponse =
        roundtrip(json!({"LayersSize": 0, "Images": null, "Containers": null, "Volumes": [], "BuildCache": null}));
    assert!(d.images.is_none());
    rejects::<SystemDfResponse>(json!({"LayersSize": "1MB"}));
    rejects::<SystemDfResponse>(json!({"BuildCache": [{"ID": "x", "InUse": "no"}]}));
}

#[test]
fn auth_and_build_prune_and_error() {
    let a: AuthResponse = roundtrip(json!({"Status": "Login Succeeded", "IdentityToken": "9cbaf023786cd7..."}));
    assert_eq!(a.identity_token, "9cbaf023786cd7...");
    roundtrip::<AuthResponse>(json!({"Status": "Login Succeeded", "IdentityToken": ""}));
    rejects::<AuthResponse>(json!({"Status": true}));

    let p: BuildCachePruneResponse =
        roundtrip(json!({"CachesDeleted": ["hw53o5aio51xtltp5xjp8v7fx"], "SpaceReclaimed": 4096}));
    assert_eq!(p.space_reclaimed, 4096);
    roundtrip::<BuildCachePruneResponse>(json!({"CachesDeleted": null, "SpaceReclaimed": 0}));
    rejects::<BuildCachePruneResponse>(json!({"SpaceReclaimed": -1}));

    let e: ErrorResponse = roundtrip(json!({"message": "No such container: c"}));
    assert_eq!(e, ErrorResponse::new("No such container: c"));
}
