//! Nothing accepted and ignored (invariant 10): every field of API 1.51's `Config` and
//! `HostConfig` that Berth does not implement is a 400 naming it when set, and leaves no
//! container; the bodies real clients send for a plain run still pass.

use super::*;
use serde_json::json;

/// (section, field, a value a user would set).
fn refused() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("Config", "ArgsEscaped", json!(true)),
        ("Config", "NetworkDisabled", json!(true)),
        ("Config", "OnBuild", json!(["RUN true"])),
        ("Config", "Shell", json!(["/bin/bash", "-c"])),
        // Taken at create as dockerd takes it, refused once the container would make a volume.
        ("HostConfig", "VolumeDriver", json!("convoy")),
        ("HostConfig", "Cgroup", json!("container:other")),
        ("HostConfig", "StorageOpt", json!({"size": "10G"})),
        ("HostConfig", "Isolation", json!("hyperv")),
        ("HostConfig", "BlkioWeight", json!(300)),
        ("HostConfig", "BlkioWeightDevice", json!([{"Path": "/dev/sda", "Weight": 300}])),
        ("HostConfig", "CpuRealtimePeriod", json!(1_000_000)),
        ("HostConfig", "CpuRealtimeRuntime", json!(950_000)),
        ("HostConfig", "DeviceRequests", json!([{"Count": -1, "Capabilities": [["gpu"]]}])),
        ("HostConfig", "KernelMemory", json!(64 << 20)),
        ("HostConfig", "KernelMemoryTCP", json!(64 << 20)),
        ("HostConfig", "OomKillDisable", json!(true)),
        ("HostConfig", "CpuCount", json!(2)),
        ("HostConfig", "CpuPercent", json!(50)),
        ("HostConfig", "IOMaximumIOps", json!(100)),
        ("HostConfig", "IOMaximumBandwidth", json!(1024)),
    ]
}

fn body_with(section: &str, field: &str, value: &Value) -> Value {
    let mut body = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {}});
    match section {
        "Config" => body[field] = value.clone(),
        _ => body["HostConfig"][field] = value.clone(),
    }
    if field == "VolumeDriver" {
        body["HostConfig"]["Binds"] = json!(["refused-volume:/data"]);
    }
    body
}

#[test]
fn every_unimplemented_field_is_refused_by_name() {
    let d = daemon("sec-refuse");
    for (section, field, value) in refused() {
        assert_refused(
            &d,
            &body_with(section, field, &value),
            &[&format!("{section}.{field} is not supported by Berth")],
        );
    }
    // Through the CLI too, for the flags that map to them.
    for (flags, field) in [
        (&["--oom-kill-disable"][..], "HostConfig.OomKillDisable"),
        (&["--blkio-weight", "300"][..], "HostConfig.BlkioWeight"),
        (&["--cpu-rt-runtime", "950000"][..], "HostConfig.CpuRealtimeRuntime"),
        // Implemented (`io_throttles_reach_the_cgroup`), and refused on what is not a block device.
        (&["--device-read-bps", "/dev/null:1mb"][..], "HostConfig.BlkioDeviceReadBps: /dev/null is not a block device"),
    ] {
        let mut a = vec!["create"];
        a.extend_from_slice(flags);
        a.extend(["busybox", "true"]);
        let (_, err) = d.docker_err(&a);
        assert!(err.contains(field), "docker {a:?}: {err}");
    }
    assert_eq!(containers(&d), 0, "a refused create left a container");
}

#[test]
fn real_clients_default_bodies_pass() {
    let d = daemon("sec-passes");
    for fixture in ["docker-cli-28-run.json", "docker-cli-28-run-it-rm.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/security/spec/fixtures").join(fixture);
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let r = create_raw(&d, &body);
        assert_eq!(r.status, 201, "{fixture}: {}", r.text());
        d.docker_ok(&["rm", "-f", r.json()["Id"].as_str().unwrap()]);
    }
    // The defaults themselves, field by field: each is what some client sends.
    let defaults = json!({"VolumeDriver": "local", "Isolation": "default", "MemorySwappiness": -1, "OomKillDisable": false,
        "BlkioWeightDevice": [], "DeviceRequests": null, "ConsoleSize": [24, 80], "ContainerIDFile": "/tmp/cid", "SecurityOpt": []});
    let r = create_raw(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["NONE"]}, "HostConfig": defaults}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker_ok(&["rm", "-f", r.json()["Id"].as_str().unwrap()]);
    assert_eq!(run(&d, &["busybox", "echo", "plain"]), "plain");
    let out = d.docker_py("print(c.containers.run('busybox', 'echo py', remove=True).decode().strip())");
    assert!(out.lines().any(|l| l == "py"), "{out}");
}

/// Beyond `Config` and `HostConfig`: `--mount` options, endpoint settings (at create and at
/// connect), network create options and update fields, each refused by name and leaving nothing.
#[test]
fn options_of_mounts_endpoints_networks_and_updates_are_refused_by_name() {
    let d = daemon("sec-refuse-more");
    let mount = json!({"Type": "volume", "Source": "sub", "Target": "/v", "VolumeOptions": {"Subpath": "a"}});
    assert_refused(
        &d,
        &json!({"Image": "busybox", "HostConfig": {"Mounts": [mount]}}),
        &["HostConfig.Mounts[0].VolumeOptions.Subpath is not supported by Berth"],
    );
    assert!(d.api_get("/volumes").json()["Volumes"].as_array().is_none_or(Vec::is_empty), "a volume was left");
    // Labels are implemented: they label the volume the mount creates, and not one that exists.
    let labelled = |src: &str, label: &str| {
        let m = format!("type=volume,src={src},dst=/v,volume-label={label}");
        d.docker_ok(&["run", "--rm", "--mount", &m, "busybox", "true"]);
        d.api_get(&format!("/volumes/{src}")).json()["Labels"].clone()
    };
    assert_eq!(labelled("lv", "a=b"), json!({"a": "b"}));
    assert_eq!(labelled("lv", "c=d"), json!({"a": "b"}), "an existing volume's labels changed");
    d.docker_ok(&["volume", "rm", "lv"]);
    let nets = || d.api_get("/networks").json().as_array().map(Vec::len).unwrap_or(0);
    let before = nets();
    let r = d.api_post("/networks/create", &json!({"Name": "six", "EnableIPv4": false}).to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("EnableIPv4 is not supported by Berth"), "{}", r.text());
    let r = d.api_post(
        "/networks/create",
        &json!({"Name": "mtu", "Options": {"com.docker.network.driver.mtu": "1400"}}).to_string(),
    );
    assert!(r.status == 400 && r.text().contains("Options.com.docker.network.driver.mtu"), "{}", r.text());
    assert_eq!(nets(), before, "a refused network create left a network");
    // The CLI's own body for a plain network create passes; an address that is not IPv4
    // link-local as a LinkLocalIP, and Docker's own endpoint driver options, do not.
    d.docker_ok(&["network", "create", "--subnet", "10.231.7.0/24", "front"]);
    let link_local = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "front"},
        "NetworkingConfig": {"EndpointsConfig": {"front": {"IPAMConfig": {"LinkLocalIPs": ["10.1.2.3"]}}}}});
    assert_refused(&d, &link_local, &["invalid link-local IP address: 10.1.2.3"]);
    let out =
        d.docker_ok(&["run", "--rm", "--network", "front", "--link-local-ip", "169.254.8.8", "busybox", "ip", "addr"]);
    assert!(out.contains("inet 169.254.8.8/16"), "docker run --link-local-ip: {out}");
    let sysctl = json!({"Image": "busybox", "HostConfig": {"NetworkMode": "front"},
        "NetworkingConfig": {"EndpointsConfig": {"front": {"DriverOpts": {"com.docker.network.endpoint.sysctls": "x=1"}}}}});
    assert_refused(&d, &sysctl, &["NetworkingConfig.EndpointsConfig.front.DriverOpts is not supported by Berth"]);
    let id = d.docker_ok(&["create", "busybox", "true"]);
    // Endpoint links are names on a user-defined network (taken), refused on the default bridge.
    let r = d.api_post(
        "/networks/front/connect",
        &json!({"Container": id, "EndpointConfig": {"Links": ["x:y"]}}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.inspect(&id)["NetworkSettings"]["Networks"]["front"]["Links"], json!(["x:y"]));
    let bridged = json!({"Image": "busybox", "Cmd": ["true"], "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": ["x:y"]}}}});
    assert_refused(&d, &bridged, &["links are only supported for user-defined networks"]);
    let r = d.api_post(&format!("/containers/{id}/update"), &json!({"CpusetCpus": "0"}).to_string());
    assert!(r.status == 400 && r.text().contains("CpusetCpus is not supported by Berth"), "{}", r.text());
    let (_, err) = d.docker_err(&["update", "--blkio-weight", "300", &id]);
    assert!(err.contains("BlkioWeight"), "docker update --blkio-weight: {err}");
    d.docker_ok(&["update", "--memory", "64m", &id]);
    assert_eq!(d.inspect(&id)["HostConfig"]["Memory"], 64 << 20);
    d.docker_ok(&["rm", &id]);
    d.docker_ok(&["network", "rm", "front"]);
}
