//! Container answers: stats, update, changes, archive path stat, inspect, list, wait, top,
//! prune. Each JSON is written from the swagger's documented shape and Docker 28's output.

#![recursion_limit = "512"]

mod common;

use berth_api::*;
use common::{rejects, roundtrip, roundtrip_to, with};
use serde_json::{json, Value};

fn cpu(total: u64, kernel: u64, user: u64, system: u64) -> Value {
    json!({"cpu_usage": {"total_usage": total, "usage_in_kernelmode": kernel, "usage_in_usermode": user},
        "system_cpu_usage": system, "online_cpus": 4,
        "throttling_data": {"periods": 12, "throttled_periods": 1, "throttled_time": 5_000_000}})
}

/// A cgroup v2 sample as Docker 28 sends it.
fn stats_v2() -> Value {
    json!({
        "name": "/web", "id": "ede54ee1afda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c743",
        "read": "2025-06-30T09:12:01.123456789Z", "preread": "2025-06-30T09:12:00.121212121Z",
        "pids_stats": {"current": 3, "limit": 4915},
        "blkio_stats": {
            "io_service_bytes_recursive": [{"major": 8, "minor": 0, "op": "read", "value": 1_048_576},
                {"major": 8, "minor": 0, "op": "write", "value": 4096}],
            "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null,
            "sectors_recursive": null
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(48_262_000, 10_000_000, 38_262_000, 9_226_310_000_000_u64),
        "precpu_stats": cpu(48_000_000, 9_900_000, 38_100_000, 9_222_310_000_000_u64),
        "memory_stats": {"usage": 6_537_216, "stats": {"active_anon": 4096, "anon": 1_327_104, "file": 4_599_808,
            "inactive_file": 2_445_312, "pgfault": 1782}, "limit": 8_217_473_024_u64},
        "networks": {"eth0": {"rx_bytes": 5338, "rx_packets": 36, "rx_errors": 0, "rx_dropped": 0,
            "tx_bytes": 648, "tx_packets": 8, "tx_errors": 0, "tx_dropped": 0}}
    })
}

#[test]
fn stats_cgroup_v2_round_trip() {
    let s: ContainerStats = roundtrip(stats_v2());
    assert_eq!(s.cpu_stats.online_cpus, Some(4));
    assert_eq!(s.cpu_stats.throttling_data.throttled_time, 5_000_000);
    assert_eq!(s.memory_stats.stats.as_ref().unwrap()["inactive_file"], 2_445_312);
    assert_eq!(s.networks.as_ref().unwrap()["eth0"].rx_packets, 36);
    assert_eq!(s.blkio_stats.io_service_bytes_recursive.as_ref().unwrap()[1].op, "write");
    assert!(s.blkio_stats.sectors_recursive.is_none());
    assert_eq!(s.pids_stats.limit, Some(4915));
}

#[test]
fn stats_cgroup_v1_and_windows_fields() {
    // cgroup v1 adds percpu_usage, max_usage and failcnt; Windows sends the storage and
    // commit counters and the endpoint IDs.
    let mut v = stats_v2();
    v["cpu_stats"]["cpu_usage"]["percpu_usage"] = json!([8_646_879, 24_472_255, 36_438_778, 30_657_443]);
    v["memory_stats"]["max_usage"] = json!(6_651_904);
    v["memory_stats"]["failcnt"] = json!(0);
    v["memory_stats"]["commitbytes"] = json!(1);
    v["memory_stats"]["commitpeakbytes"] = json!(2);
    v["memory_stats"]["privateworkingset"] = json!(3);
    v["storage_stats"] =
        json!({"read_count_normalized": 1, "read_size_bytes": 2, "write_count_normalized": 3, "write_size_bytes": 4});
    v["networks"]["eth0"]["endpoint_id"] = json!("ep");
    v["networks"]["eth0"]["instance_id"] = json!("in");
    v["num_procs"] = json!(7);
    let s: ContainerStats = roundtrip(v);
    assert_eq!(s.cpu_stats.cpu_usage.percpu_usage.unwrap().len(), 4);
    assert_eq!(s.memory_stats.private_working_set, Some(3));
    assert_eq!(s.storage_stats.write_size_bytes, Some(4));
}

#[test]
fn stats_of_a_stopped_container() {
    // What Docker streams for a container that is not running: zero times, empty objects, no
    // name/id/networks.
    let empty = json!({
        "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {}
    });
    let s: ContainerStats = roundtrip(empty.clone());
    assert_eq!(s, ContainerStats { read: s.read.clone(), preread: s.preread.clone(), ..Default::default() });
    // The default value serializes to exactly that shape (the always-sent objects are there).
    let d = ContainerStats {
        read: "0001-01-01T00:00:00Z".into(),
        preread: "0001-01-01T00:00:00Z".into(),
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(&d).unwrap(), empty);
}

#[test]
fn stats_wrong_types_fail() {
    rejects::<ContainerStats>(with(stats_v2(), "", "num_procs", json!("0")));
    rejects::<ContainerStats>(with(stats_v2(), "", "networks", json!([{"rx_bytes": 1}])));
    rejects::<ContainerStats>(with(stats_v2(), "/memory_stats", "stats", json!({"anon": "1"})));
    rejects::<ContainerStats>(with(stats_v2(), "/cpu_stats/cpu_usage", "total_usage", json!(-1)));
}

#[test]
fn update_response() {
    let u: ContainerUpdateResponse = roundtrip(json!({"Warnings": ["Published ports are discarded"]}));
    assert_eq!(u.warnings.unwrap().len(), 1);
    roundtrip::<ContainerUpdateResponse>(json!({"Warnings": null}));
    rejects::<ContainerUpdateResponse>(json!({"Warnings": "none"}));
}

#[test]
fn filesystem_changes() {
    let c: Vec<FilesystemChange> = roundtrip(json!([
        {"Path": "/dev", "Kind": 0}, {"Path": "/dev/kmsg", "Kind": 1}, {"Path": "/test", "Kind": 2}
    ]));
    assert_eq!(c.iter().map(FilesystemChange::letter).collect::<String>(), "CAD");
    rejects::<FilesystemChange>(json!({"Path": "/x", "Kind": "A"}));
    rejects::<FilesystemChange>(json!({"Path": "/x", "Kind": 256}));
}

#[test]
fn archive_path_stat() {
    // The decoded X-Docker-Container-Path-Stat of `HEAD /containers/{id}/archive?path=/etc`.
    let p: PathStat = roundtrip(json!({
        "name": "etc", "size": 4096, "mode": 2_147_484_141_u32, "mtime": "2025-06-30T09:12:00.5Z", "linkTarget": ""
    }));
    assert_eq!(p.mode & PathStat::MODE_DIR, PathStat::MODE_DIR);
    assert_eq!(p.mode & 0o777, 0o755);
    let l: PathStat = roundtrip(json!({
        "name": "sh", "size": 7, "mode": 134_218_239_u32, "mtime": "2025-06-30T09:12:00Z", "linkTarget": "/bin/busybox"
    }));
    assert_eq!(l.mode & PathStat::MODE_SYMLINK, PathStat::MODE_SYMLINK);
    rejects::<PathStat>(json!({"name": "x", "mode": "0755"}));
}

fn inspect() -> Value {
    json!({
        "Id": "ba033ac4401106a3b513bc9d639eee123ad78ca3616b921167cd74b20e25ed39",
        "Created": "2025-06-30T09:10:51.102386095Z",
        "Path": "/bin/sh", "Args": ["-c", "exit 9"],
        "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false,
            "Dead": false, "Pid": 1234, "ExitCode": 0, "Error": "", "StartedAt": "2025-06-30T09:10:51.541305889Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy", "FailingStreak": 0, "Log": [{"Start": "2025-06-30T09:11:21.1Z",
                "End": "2025-06-30T09:11:21.2Z", "ExitCode": 0, "Output": "ok"}]}},
        "Image": "sha256:04f4c8b5a1a2d1e2a1d9b8a8c2c6a1d7e5f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2",
        "ResolvConfPath": "/var/lib/berth/containers/ba03/resolv.conf",
        "HostnamePath": "/var/lib/berth/containers/ba03/hostname",
        "HostsPath": "/var/lib/berth/containers/ba03/hosts",
        "LogPath": "/var/lib/berth/containers/ba03/ba03-json.log",
        "Name": "/boring_euclid", "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
        "ImageManifestDescriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda", "size": 610,
            "platform": {"architecture": "amd64", "os": "linux"}},
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "docker-default",
        "ExecIDs": ["b35395de42bc8abd327f9dd65d913b9ba28c74d2f0734eeeae84fa1c616a0fca"],
        "HostConfig": {
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
            "CapAdd": null, "CapDrop": null, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [],
            "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null, "IpcMode": "private", "Cgroup": "",
            "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
            "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 67_108_864,
            "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
            "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
            "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
            "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
            "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null, "Ulimits": [], "CpuCount": 0,
            "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore"],
            "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq"]
        },
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": "/l", "MergedDir": "/m", "UpperDir": "/u",
            "WorkDir": "/w"}},
        "SizeRw": 122_880, "SizeRootFs": 1_653_948_416_i64,
        "Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/berth/volumes/data/_data",
            "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""}],
        "Config": {"Hostname": "ba033ac44011", "Domainname": "", "User": "", "AttachStdin": false,
            "AttachStdout": false, "AttachStderr": false, "ExposedPorts": {"80/tcp": {}}, "Tty": false,
            "OpenStdin": false, "StdinOnce": false, "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh", "-c", "exit 9"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30_000_000_000_i64},
            "Image": "busybox", "Volumes": {"/data": {}}, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
            "Labels": {"com.example.vendor": "Acme"}, "StopSignal": "SIGTERM", "StopTimeout": 10},
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "7c1e", "SandboxKey": "/var/run/berth/netns/7c1e",
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null},
            "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": "8ed5", "Gateway": "172.17.0.1", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "IPv6Gateway": "", "MacAddress": "02:42:ac:11:00:02",
            "Networks": {"bridge": {"IPAMConfig": null, "Links": null, "Aliases": null,
                "MacAddress": "02:42:ac:11:00:02", "DriverOpts": null, "GwPriority": 0, "NetworkID": "7ea2",
                "EndpointID": "8ed5", "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2", "IPPrefixLen": 16,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null}}
        }
    })
}

#[test]
fn inspect_round_trip() {
    let i: ContainerInspect = roundtrip(inspect());
    assert_eq!(i.image_manifest_descriptor.unwrap().size, 610);
    assert_eq!(i.state.health.unwrap().log.unwrap()[0].output, "ok");
    assert_eq!(i.host_config.masked_paths.unwrap().len(), 3);
    assert!(i.network_settings.ports["443/tcp"].is_none());
    rejects::<ContainerInspect>(with(inspect(), "/State", "Pid", json!("1234")));
    rejects::<ContainerInspect>(with(inspect(), "", "ExecIDs", json!("b353")));
}

#[test]
fn summary_round_trip() {
    let s: Vec<ContainerSummary> = roundtrip(json!([{
        "Id": "8dfafdbc3a40", "Names": ["/boring_feynman"], "Image": "ubuntu:latest",
        "ImageID": "sha256:d74508fb6632491cea586a1fd7d748dfc5274cd6fdfedee309ecdcbc2bf5cb82",
        "ImageManifestDescriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda", "size": 424},
        "Command": "echo 1", "Created": 1_367_854_155,
        "Ports": [{"PrivatePort": 2222, "PublicPort": 3333, "Type": "tcp", "IP": "0.0.0.0"}, {"PrivatePort": 53, "Type": "udp"}],
        "SizeRw": 12288, "SizeRootFs": 0,
        "Labels": {"com.example.vendor": "Acme"}, "State": "exited", "Status": "Exit 0",
        "HostConfig": {"NetworkMode": "default", "Annotations": {"io.kubernetes.docker.type": "container"}},
        "NetworkSettings": {"Networks": {"bridge": {"IPAMConfig": null, "Links": null, "Aliases": null,
            "MacAddress": "02:42:ac:11:00:02", "DriverOpts": null, "GwPriority": 0, "NetworkID": "7ea2",
            "EndpointID": "2cdc", "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2", "IPPrefixLen": 16,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null}}},
        "Mounts": [{"Type": "bind", "Source": "/data", "Destination": "/data", "Mode": "ro,Z", "RW": false,
            "Propagation": "rprivate"}]
    }]));
    assert_eq!(s[0].ports[1].public_port, None);
    assert_eq!(s[0].image_manifest_descriptor.as_ref().unwrap().size, 424);
    // Docker's list sends `null` for an empty Names/Labels/Mounts list; Berth answers `[]`/`{}`.
    let s: ContainerSummary =
        serde_json::from_value(json!({"Id": "x", "Names": null, "Labels": null, "Mounts": null, "Ports": null}))
            .unwrap();
    assert!(s.names.is_empty() && s.labels.is_empty() && s.mounts.is_empty());
    rejects::<ContainerSummary>(json!({"Id": "x", "Created": "yesterday"}));
}

#[test]
fn wait_top_prune() {
    roundtrip::<ContainerWaitResponse>(json!({"StatusCode": 0}));
    let w: ContainerWaitResponse = roundtrip(json!({"StatusCode": 137, "Error": {"Message": "container killed"}}));
    assert_eq!(w.error.unwrap().message, "container killed");
    roundtrip_to::<ContainerWaitResponse>(json!({"StatusCode": 1, "Error": null}), json!({"StatusCode": 1}));
    rejects::<ContainerWaitResponse>(json!({"StatusCode": "1"}));

    let t: ContainerTopResponse = roundtrip(json!({
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": [["root", "13642", "882", "0", "17:03", "pts/0", "00:00:00", "/bin/bash"],
            ["root", "13735", "13642", "0", "17:06", "pts/0", "00:00:00", "sleep 10"]]
    }));
    assert_eq!(t.processes[1][7], "sleep 10");
    rejects::<ContainerTopResponse>(json!({"Titles": ["PID"], "Processes": [[13642]]}));

    let p: ContainerPruneResponse = roundtrip(json!({"ContainersDeleted": ["8dfafdbc3a40"], "SpaceReclaimed": 12288}));
    assert_eq!(p.space_reclaimed, 12288);
    roundtrip::<ContainerPruneResponse>(json!({"ContainersDeleted": null, "SpaceReclaimed": 0}));
}
