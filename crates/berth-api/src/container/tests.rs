use super::*;

/// What `docker create --name t -e A=1 -l k=v -m 64m --cpus 0.5 --pids-limit 50 --restart
/// on-failure:3 --rm=false -p 8080:80 --stop-timeout 5 busybox sh -c 'exit 3'` sends (docker CLI 28).
const DOCKER_CLI_28_CREATE: &str = r#"{
 "Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,
 "ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],
 "Cmd":["sh","-c","exit 3"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
 "OnBuild":null,"Labels":{"k":"v"},"StopTimeout":5,
 "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"bridge",
  "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
  "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"",
  "VolumesFrom":null,"ConsoleSize":[50,200],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],
  "DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,
  "OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
  "SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,
  "Memory":67108864,"NanoCpus":500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],
  "BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],
  "CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
  "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,
  "MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":50,"Ulimits":[],"CpuCount":0,"CpuPercent":0,
  "IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
 "NetworkingConfig":{"EndpointsConfig":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,
  "MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"",
  "IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,
  "DNSNames":null}}}
}"#;

/// docker-py 7.1 `containers.create("busybox", "true", detach=True, mem_limit="64m")`: `None`
/// for everything unset, including booleans and strings.
const DOCKER_PY_CREATE: &str = r#"{"Hostname":null,"Domainname":null,"ExposedPorts":null,"User":null,
 "Tty":false,"OpenStdin":false,"StdinOnce":false,"AttachStdin":false,"AttachStdout":false,
 "AttachStderr":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":null,
 "NetworkDisabled":false,"Entrypoint":null,"WorkingDir":null,"MacAddress":null,"Labels":null,
 "StopSignal":null,"Healthcheck":null,"StopTimeout":null,"Runtime":null,
 "HostConfig":{"NetworkMode":"default","Memory":67108864}}"#;

#[test]
fn docker_cli_28_create_body() {
    let r: ContainerCreateRequest = serde_json::from_str(DOCKER_CLI_28_CREATE).unwrap();
    let (c, h, n) = r.clone().split();
    assert_eq!(c.cmd.as_deref().unwrap(), ["sh", "-c", "exit 3"]);
    assert_eq!(c.image, "busybox");
    assert!(c.attach_stdout && !c.tty);
    assert_eq!(c.env.as_deref().unwrap(), ["A=1"]);
    assert_eq!(c.labels.as_ref().unwrap()["k"], "v");
    assert_eq!(c.stop_timeout, Some(5));
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
    assert_eq!(h.resources.memory, 64 << 20);
    assert_eq!(h.resources.nano_cpus, 500_000_000);
    assert_eq!(h.resources.pids_limit, Some(50));
    assert_eq!(h.resources.memory_swappiness, None);
    assert_eq!(h.restart_policy, RestartPolicy { name: "on-failure".into(), maximum_retry_count: 3 });
    assert_eq!(h.network_mode, "bridge");
    assert_eq!(h.console_size.as_deref(), Some(&[50, 200][..]));
    let pb = &h.port_bindings.as_ref().unwrap()["80/tcp"].as_ref().unwrap()[0];
    assert_eq!((pb.host_ip.as_str(), pb.host_port.as_str()), ("", "8080"));
    assert!(n.endpoints_config.unwrap().contains_key("bridge"));

    // Serializing and parsing again gives the same request.
    let again: ContainerCreateRequest = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(again, r);
}

#[test]
fn docker_py_create_body_with_nulls() {
    let r: ContainerCreateRequest = serde_json::from_str(DOCKER_PY_CREATE).unwrap();
    let (c, h, n) = r.split();
    assert_eq!(c.hostname, "");
    assert_eq!(c.working_dir, "");
    assert_eq!(c.env, None);
    assert_eq!(c.cmd.as_deref().unwrap(), ["true"]);
    assert_eq!(h.network_mode, "default");
    assert_eq!(h.resources.memory, 64 << 20);
    assert_eq!(h.restart_policy, RestartPolicy::default());
    assert_eq!(n, NetworkingConfig::default());
}

#[test]
fn cmd_and_entrypoint_accept_a_string() {
    let r: ContainerCreateRequest =
        serde_json::from_str(r#"{"Image":"x","Cmd":"echo hi","Entrypoint":"/bin/sh"}"#).unwrap();
    assert_eq!(r.config.cmd.as_deref().unwrap(), ["echo hi"]);
    assert_eq!(r.config.entrypoint.as_deref().unwrap(), ["/bin/sh"]);
}

#[test]
fn wrong_types_fail() {
    for bad in [
        r#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#,
        r#"{"Image":"x","HostConfig":{"PidsLimit":"50"}}"#,
        r#"{"Image":"x","HostConfig":{"RestartPolicy":"always"}}"#,
        r#"{"Image":"x","Tty":"yes"}"#,
        r#"{"Image":7}"#,
        r#"{"Image":"x","Env":"A=1"}"#,
        r#"{"Image":"x","Cmd":[1,2]}"#,
        r#"{"Image":"x","Labels":["a"]}"#,
        r#"{"Image":"x","HostConfig":{"BlkioWeight":70000}}"#,
    ] {
        assert!(serde_json::from_str::<ContainerCreateRequest>(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let r: ContainerCreateRequest =
        serde_json::from_str(r#"{"Image":"x","FutureField":{"a":1},"HostConfig":{"Whatever":[1],"Memory":5}}"#)
            .unwrap();
    assert_eq!(r.host_config.unwrap().resources.memory, 5);
}

#[test]
fn inspect_serializes_docker_names() {
    let mut i = ContainerInspect { id: "abc".into(), name: "/t".into(), ..Default::default() };
    i.state.oom_killed = true;
    i.state.pid = 42;
    i.host_config.resources.nano_cpus = 1;
    i.network_settings.ip_address = "172.17.0.2".into();
    let v = serde_json::to_value(&i).unwrap();
    assert_eq!(v["State"]["OOMKilled"], true);
    assert_eq!(v["State"]["Pid"], 42);
    assert!(v["State"].get("Health").is_none());
    assert!(v["ExecIDs"].is_null());
    assert_eq!(v["HostConfig"]["NanoCpus"], 1);
    assert!(v["HostConfig"]["PidsLimit"].is_null());
    assert!(v["HostConfig"].get("Resources").is_none());
    assert_eq!(v["NetworkSettings"]["IPAddress"], "172.17.0.2");
    assert!(v["Config"]["Cmd"].is_null());
    assert!(v["Config"].get("StopTimeout").is_none());
    assert_eq!(v["Mounts"], serde_json::json!([]));
    let back: ContainerInspect = serde_json::from_value(v).unwrap();
    assert_eq!(back, i);
}

#[test]
fn summary_and_wait() {
    let s = ContainerSummary {
        id: "abc".into(),
        names: vec!["/t".into()],
        image_id: "sha256:1".into(),
        ports: vec![Port { ip: String::new(), private_port: 80, public_port: None, type_: "tcp".into() }],
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["ImageID"], "sha256:1");
    assert_eq!(v["Ports"][0], serde_json::json!({"PrivatePort": 80, "Type": "tcp"}));
    assert_eq!(v["HostConfig"]["NetworkMode"], "");
    assert_eq!(serde_json::from_value::<ContainerSummary>(v).unwrap(), s);

    let w: ContainerWaitResponse = serde_json::from_str(r#"{"StatusCode":3,"Error":null}"#).unwrap();
    assert_eq!(w.status_code, 3);
    assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"StatusCode":3}"#);
    let w: ContainerWaitResponse = serde_json::from_str(r#"{"StatusCode":137,"Error":{"Message":"boom"}}"#).unwrap();
    assert_eq!(w.error.unwrap().message, "boom");
}

#[test]
fn mount_type_field_name() {
    let m: Mount = serde_json::from_str(r#"{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true}"#).unwrap();
    assert_eq!((m.r#type.as_str(), m.read_only), ("bind", true));
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        serde_json::json!({"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true})
    );
}

/// Bodies captured from the real clients on this machine (docker CLI 28 `create --name t -e A=1
/// -l k=v -m 64m --cpus 0.5 --pids-limit 50 --restart on-failure:3 -p 8080:80 --stop-timeout 5
/// busybox sh -c 'exit 3'`; docker-py 7.1 `create_container('busybox', 'true', mem_limit='64m')`).
#[test]
fn captured_client_bodies() {
    let r: ContainerCreateRequest = serde_json::from_str(include_str!("fixtures/docker-cli-28-create.json")).unwrap();
    let (c, h, n) = r.split();
    assert_eq!(c.cmd.as_deref().unwrap(), ["sh", "-c", "exit 3"]);
    assert_eq!(h.resources.memory_swappiness, Some(-1));
    assert_eq!(h.resources.oom_kill_disable, Some(false));
    assert_eq!(h.resources.pids_limit, Some(50));
    assert_eq!(h.network_mode, "default");
    assert!(n.endpoints_config.unwrap().contains_key("default"));
    let r: ContainerCreateRequest = serde_json::from_str(include_str!("fixtures/docker-py-7.1-create.json")).unwrap();
    assert_eq!(r.config.cmd.as_deref().unwrap(), ["true"]);
    assert_eq!(r.host_config.unwrap().resources.memory, 64 << 20);
    let e: crate::ExecConfig = serde_json::from_str(
        r#"{"Container": "abc", "User": "", "Privileged": false, "Tty": false, "AttachStdin": false, "AttachStdout": true, "AttachStderr": true, "Cmd": ["echo", "hi"]}"#,
    )
    .unwrap();
    assert_eq!(e.cmd.as_deref().unwrap(), ["echo", "hi"]);
}
