//! Image answers: inspect (with the legacy `ContainerConfig`), list (with manifests), history,
//! delete, prune, search, and the pull/load progress stream.

#![recursion_limit = "256"]

mod common;

use berth_api::*;
use common::{rejects, roundtrip, roundtrip_to, with};
use serde_json::{json, Value};

fn descriptor(media: &str, size: i64) -> Value {
    json!({"mediaType": media,
        "digest": "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda", "size": size})
}

fn inspect() -> Value {
    json!({
        "Id": "sha256:ec3f0931a6e6b6855d76b2d7b0be30e81860baccd891b2e243280bf1cd8ad710",
        "Descriptor": descriptor("application/vnd.oci.image.index.v1+json", 9218),
        "RepoTags": ["example:1.0", "example:latest"],
        "RepoDigests": ["example@sha256:afcc7f1ac1b49db317a7196c902e61c6c3c4607d63599ee1a82d702d249a0ccb"],
        "Parent": "", "Comment": "buildkit.dockerfile.v0",
        "Created": "2025-02-21T20:14:48.126431195Z",
        "ContainerConfig": {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
            "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
            "OnBuild": null, "Labels": null},
        "DockerVersion": "", "Author": "",
        "Config": {"User": "web:web", "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"], "Healthcheck": {"Test": ["CMD-SHELL", "exit 0"], "Interval": 0, "Timeout": 0,
                "StartPeriod": 0, "StartInterval": 0, "Retries": 0},
            "ArgsEscaped": true, "Volumes": {"/app/data": {}, "/app/config": {}}, "WorkingDir": "/public",
            "Entrypoint": [], "OnBuild": [], "Labels": {"com.example.some-label": "some-value"},
            "StopSignal": "SIGTERM", "Shell": ["/bin/sh", "-c"]},
        "Architecture": "arm", "Variant": "v7", "Os": "linux",
        "Size": 1_239_828,
        "GraphDriver": {"Name": "overlay2", "Data": {"MergedDir": "/m", "UpperDir": "/u", "WorkDir": "/w"}},
        "RootFS": {"Type": "layers", "Layers": ["sha256:1834950e52ce4d5a88a1bbd131c537f4d0e56d10ff0dd69e66be3b7dfa9df7e6"]},
        "Metadata": {"LastTagTime": "2025-02-21T20:14:49.1Z"},
        "Manifests": [manifest_image(), manifest_attestation()]
    })
}

fn manifest_image() -> Value {
    json!({"ID": "sha256:95869fbcf224d947ace8d61d0e931d49e31bb7fc67fffbbe9c3198c33aa8e93f",
        "Descriptor": with(descriptor("application/vnd.oci.image.manifest.v1+json", 424), "", "platform",
            json!({"architecture": "arm", "os": "linux", "variant": "v7", "os.version": "", "os.features": []})),
        "Available": true, "Size": {"Total": 8213251, "Content": 3987495}, "Kind": "image",
        "ImageData": {"Platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
            "Containers": ["ede54ee1fda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c7430"],
            "Size": {"Unpacked": 3987495}}})
}

fn manifest_attestation() -> Value {
    json!({"ID": "sha256:7d1c0c81e4c29cc17c2d5a3e3b1da8e6a04fa6c3c5bda01fd41b6a9b2d5c1e6f",
        "Descriptor": with(descriptor("application/vnd.oci.image.manifest.v1+json", 566), "", "annotations",
            json!({"vnd.docker.reference.type": "attestation-manifest"})),
        "Available": false, "Size": {"Total": 0, "Content": 0}, "Kind": "attestation",
        "AttestationData": {"For": "sha256:95869fbcf224d947ace8d61d0e931d49e31bb7fc67fffbbe9c3198c33aa8e93f"}})
}

#[test]
fn inspect_round_trip() {
    let i: ImageInspect = roundtrip(inspect());
    assert_eq!(i.container_config.unwrap(), ContainerConfig::default());
    let m = i.manifests.unwrap();
    assert_eq!(m[0].image_data.as_ref().unwrap().platform.variant.as_deref(), Some("v7"));
    assert_eq!(m[1].attestation_data.as_ref().unwrap().r#for, m[0].id);
    assert_eq!(i.config.unwrap().shell.unwrap(), ["/bin/sh", "-c"]);
}

#[test]
fn inspect_with_docker_28_omissions() {
    // Docker 28 with the graph-driver store: no ContainerConfig, Descriptor or Manifests, an
    // empty Metadata, and Variant/OsVersion left out.
    let mut v = inspect();
    for k in ["ContainerConfig", "Descriptor", "Manifests", "Variant", "OsVersion"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v["Metadata"] = json!({});
    let i: ImageInspect = roundtrip(v.clone());
    assert!(i.container_config.is_none() && i.metadata.last_tag_time.is_none());
    // Nulls from a client reading another daemon's answer become defaults.
    let n = with(with(v, "", "RepoTags", Value::Null), "", "Metadata", Value::Null);
    let i: ImageInspect = serde_json::from_value(n).unwrap();
    assert!(i.repo_tags.is_empty());
    rejects::<ImageInspect>(with(inspect(), "", "Size", json!("1.2MB")));
    rejects::<ImageInspect>(with(inspect(), "/Manifests/0", "Available", json!("yes")));
    rejects::<ImageInspect>(with(inspect(), "", "ContainerConfig", json!({"Tty": "no"})));
}

#[test]
fn summary_round_trip() {
    let s: Vec<ImageSummary> = roundtrip(json!([{
        "Id": "sha256:ec3f0931a6e6b6855d76b2d7b0be30e81860baccd891b2e243280bf1cd8ad710",
        "ParentId": "", "RepoTags": ["example:1.0"], "RepoDigests": [],
        "Created": 1_644_009_612, "Size": 172_064_416, "SharedSize": 1_239_828,
        "Labels": {"com.example.some-label": "some-value"}, "Containers": 2,
        "Descriptor": descriptor("application/vnd.oci.image.index.v1+json", 9218),
        "Manifests": [manifest_image()]
    }, {
        "Id": "sha256:2b8fd9751c4c0f5dd266fcae00707e67a2545ef34f9a29354585f93dac906749",
        "ParentId": "", "RepoTags": [], "RepoDigests": [], "Created": 1, "Size": 2, "SharedSize": -1,
        "Labels": {}, "Containers": -1
    }]));
    assert_eq!(s[0].manifests.as_ref().unwrap()[0].size.content, 3_987_495);
    assert!(s[1].descriptor.is_none());
    rejects::<ImageSummary>(json!({"Id": "x", "Manifests": {"ID": "y"}}));
}

#[test]
fn history_delete_prune() {
    let h: Vec<HistoryItem> = roundtrip(json!([
        {"Id": "sha256:3db9c44f45209632d6050b35958829c3a2aa256d81b9a7be45b362ff85c54710", "Created": 1_398_108_230,
         "CreatedBy": "/bin/sh -c #(nop) ADD file:eb15dbd63394e063b805a3c32ca7bf0266ef64676d5a6fab4801f2e81e2a5148 in /",
         "Tags": ["ubuntu:lucid", "ubuntu:10.04"], "Size": 182_964_289, "Comment": ""},
        {"Id": "<missing>", "Created": 1_398_108_222, "CreatedBy": "/bin/sh -c #(nop) MAINTAINER Tianon",
         "Tags": [], "Size": 0, "Comment": ""}
    ]));
    assert_eq!(h[1].id, "<missing>");
    let t: HistoryItem = serde_json::from_value(json!({"Id": "x", "Tags": null})).unwrap();
    assert!(t.tags.is_empty());
    rejects::<HistoryItem>(json!({"Id": "x", "Created": "2014-04-21"}));

    let d: Vec<DeleteItem> = roundtrip(json!([
        {"Untagged": "3e2f21a89f"}, {"Deleted": "3e2f21a89f"}, {"Deleted": "53b4f83ac9"}
    ]));
    assert_eq!(d[0].untagged.as_deref(), Some("3e2f21a89f"));
    rejects::<DeleteItem>(json!({"Deleted": 5}));

    let p: ImagePruneResponse = roundtrip(json!({"ImagesDeleted": [{"Untagged": "busybox:latest"},
        {"Deleted": "sha256:2b8fd9751c4c0f5dd266fcae00707e67a2545ef34f9a29354585f93dac906749"}],
        "SpaceReclaimed": 4_265_000}));
    assert_eq!(p.images_deleted.unwrap().len(), 2);
    roundtrip::<ImagePruneResponse>(json!({"ImagesDeleted": null, "SpaceReclaimed": 0}));
}

#[test]
fn search_results() {
    let r: Vec<ImageSearchResult> = roundtrip(json!([
        {"description": "A minimal Docker image based on Alpine Linux", "is_official": true,
         "is_automated": false, "name": "alpine", "star_count": 10093},
        {"description": "", "is_official": false, "is_automated": false, "name": "someone/busybox", "star_count": 0}
    ]));
    assert!(r[0].is_official);
    rejects::<ImageSearchResult>(json!({"name": "alpine", "star_count": "10k"}));
}

#[test]
fn progress_stream_lines() {
    for line in [
        json!({"status": "Pulling from library/busybox", "id": "latest"}),
        json!({"status": "Downloading", "progressDetail": {"current": 1_048_576, "total": 2_155_323},
            "progress": "[=====>      ]  1.049MB/2.155MB", "id": "9ad63333ebc9"}),
        json!({"stream": "Loaded image: busybox:latest\n"}),
        json!({"errorDetail": {"code": 404, "message": "manifest unknown"}, "error": "manifest unknown"}),
    ] {
        roundtrip::<ProgressMessage>(line);
    }
    roundtrip_to::<ProgressMessage>(
        json!({"status": "Digest: sha256:abc", "id": null, "progressDetail": null}),
        json!({"status": "Digest: sha256:abc"}),
    );
    rejects::<ProgressMessage>(json!({"errorDetail": "boom"}));
}
