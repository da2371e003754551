//! Network, volume and exec answers: network list/inspect/create/prune, volume
//! list/inspect/prune, exec create (IdResponse) and exec inspect.

mod common;

use berth_api::*;
use common::{rejects, roundtrip, with};
use serde_json::{json, Value};

fn network() -> Value {
    json!({
        "Name": "my_network", "Id": "7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99",
        "Created": "2016-10-19T04:33:30.360899459Z", "Scope": "local", "Driver": "bridge",
        "EnableIPv4": true, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16", "IPRange": "172.17.5.0/24",
            "Gateway": "172.17.0.1", "AuxiliaryAddresses": {"host1": "172.17.0.5"}}], "Options": {"foo": "bar"}},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {"19a4d5d687db25203351ed79d478946f861258f018fe384f229f2efa4b23513c": {
            "Name": "test", "EndpointID": "628cadb8bcb92de107b2a1e516cbffe463e321f548feb37697cce00ad694f21a",
            "MacAddress": "02:42:ac:13:00:02", "IPv4Address": "172.19.0.2/16", "IPv6Address": ""}},
        "Options": {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.driver.mtu": "1500"},
        "Labels": {"com.example.some-label": "some-value"},
        "Peers": [{"Name": "6869d7c1732b", "IP": "10.133.77.91"}]
    })
}

#[test]
fn network_inspect_and_list() {
    let n: Network = roundtrip(network());
    assert_eq!(n.peers.unwrap()[0].ip, "10.133.77.91");
    assert_eq!(n.ipam.config.unwrap()[0].ip_range.as_deref(), Some("172.17.5.0/24"));
    // A local network has no Peers; a list answer is an array of the same shape.
    let mut local = network();
    local.as_object_mut().unwrap().remove("Peers");
    local["Containers"] = json!({});
    let l: Vec<Network> = roundtrip(json!([local]));
    assert!(l[0].peers.is_none());
    rejects::<Network>(with(network(), "", "EnableIPv4", json!("true")));
    rejects::<Network>(with(network(), "", "Peers", json!({"Name": "x"})));
}

#[test]
fn network_create_and_prune_answers() {
    let c: NetworkCreateResponse =
        roundtrip(json!({"Id": "b5c4fc71e8022147cd25de22b22173de4e3b170134117172eb595cb91b4e7e5d", "Warning": ""}));
    assert!(c.warning.is_empty());
    rejects::<NetworkCreateResponse>(json!({"Id": 5}));
    let p: NetworkPruneResponse = roundtrip(json!({"NetworksDeleted": ["my_network", "other"]}));
    assert_eq!(p.networks_deleted.unwrap().len(), 2);
    roundtrip::<NetworkPruneResponse>(json!({"NetworksDeleted": null}));
    rejects::<NetworkPruneResponse>(json!({"NetworksDeleted": "my_network"}));
}

fn volume() -> Value {
    json!({
        "Name": "tardis", "Driver": "custom", "Mountpoint": "/var/lib/berth/volumes/tardis",
        "CreatedAt": "2016-06-07T20:31:11.853781916Z",
        "Status": {"hello": "world", "size": 3},
        "Labels": {"com.example.some-label": "some-value"}, "Scope": "local",
        "Options": {"device": "tmpfs", "o": "size=100m,uid=1000", "type": "tmpfs"},
        "UsageData": {"Size": 10_920_104, "RefCount": 2}
    })
}

#[test]
fn volume_list_inspect_prune() {
    let v: Volume = roundtrip(volume());
    assert_eq!(v.status.unwrap()["size"], 3);
    let cluster = with(volume(), "", "ClusterVolume", json!({"ID": "1ffa", "Spec": {"Group": "g"}}));
    let v: Volume = roundtrip(cluster);
    assert_eq!(v.cluster_volume.unwrap()["ID"], "1ffa");
    let l: VolumeListResponse = roundtrip(json!({"Volumes": [volume()], "Warnings": ["volume plugin unreachable"]}));
    assert_eq!(l.warnings.len(), 1);
    roundtrip::<VolumeListResponse>(json!({"Volumes": [], "Warnings": []}));
    // Docker sends "Warnings": null and "Labels": null; Berth answers [] and {}.
    let l: VolumeListResponse =
        serde_json::from_value(json!({"Volumes": [with(volume(), "", "Labels", Value::Null)], "Warnings": null}))
            .unwrap();
    assert!(l.warnings.is_empty() && l.volumes[0].labels.is_empty());
    rejects::<VolumeListResponse>(json!({"Volumes": {}}));
    rejects::<Volume>(with(volume(), "/UsageData", "Size", json!("10MB")));

    let p: VolumePruneResponse = roundtrip(json!({"VolumesDeleted": ["tardis"], "SpaceReclaimed": 10_920_104}));
    assert_eq!(p.space_reclaimed, 10_920_104);
    roundtrip::<VolumePruneResponse>(json!({"VolumesDeleted": null, "SpaceReclaimed": 0}));
    rejects::<VolumePruneResponse>(json!({"VolumesDeleted": [1]}));
}

#[test]
fn exec_create_and_inspect() {
    let id: IdResponse = roundtrip(json!({"Id": "f90e34656806"}));
    assert_eq!(id.id, "f90e34656806");
    let i: ExecInspect = roundtrip(json!({
        "CanRemove": false, "ContainerID": "b53ee82b53a40c7dca428523e34f741f3abc51d9f297a14ff874bf761b995126",
        "DetachKeys": "", "ExitCode": 2, "ID": "f33bbfb39f5b142420f4759b2348913bd4a8d1a6d7fd56499cb41a1bb91d7b3b",
        "OpenStderr": true, "OpenStdin": true, "OpenStdout": true,
        "ProcessConfig": {"arguments": ["-c", "exit 2"], "entrypoint": "sh", "privileged": false, "tty": true,
            "user": "1000"},
        "Running": false, "Pid": 42000
    }));
    assert_eq!((i.exit_code, i.process_config.entrypoint.as_str()), (Some(2), "sh"));
    // While running, ExitCode is null.
    let i: ExecInspect = roundtrip(json!({"CanRemove": false, "ContainerID": "b53e", "DetachKeys": "ctrl-p,ctrl-q",
        "ExitCode": null, "ID": "f33b", "OpenStderr": false, "OpenStdin": false, "OpenStdout": false,
        "ProcessConfig": {"arguments": [], "entrypoint": "top", "privileged": true, "tty": false, "user": ""},
        "Running": true, "Pid": 7}));
    assert!(i.running && i.exit_code.is_none());
    rejects::<ExecInspect>(json!({"ID": "x", "ExitCode": "2"}));
    rejects::<ExecInspect>(json!({"ID": "x", "ProcessConfig": {"arguments": "-c"}}));
}
