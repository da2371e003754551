use super::*;

fn parse(body: &str) -> wire::ContainerCreateRequest {
    serde_json::from_str(body).unwrap()
}

#[test]
fn docker_cli_body_becomes_the_records_config() {
    let body = r#"{"Hostname":"","User":"","AttachStdout":true,"Tty":false,"Env":["A=1"],"Cmd":["sh","-c","exit 3"],
        "Image":"busybox","Labels":{"a":"b"},"StopTimeout":5,
        "HostConfig":{"Binds":null,"NetworkMode":"default","RestartPolicy":{"Name":"no","MaximumRetryCount":0},
        "AutoRemove":true,"Memory":67108864,"NanoCpus":500000000,"PidsLimit":50,"MemorySwappiness":-1,"Unknown":1,
        "Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1024,"Mode":448}}],
        "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},
        "NetworkingConfig":{"EndpointsConfig":{"front":{"Aliases":["web"]}}}}"#;
    let s = spec(parse(body), Some("x".into())).unwrap();
    assert_eq!(s.config.cmd.as_deref().unwrap(), ["sh", "-c", "exit 3"]);
    // The wire's zeros are the record's "not asked for".
    assert_eq!((s.config.hostname.as_deref(), s.config.user.as_deref(), s.config.tty), (None, None, None));
    assert_eq!(s.config.image.as_deref(), Some("busybox"));
    assert_eq!((s.host.memory, s.host.nano_cpus, s.host.pids_limit), (Some(67108864), Some(500000000), Some(50)));
    assert_eq!((s.host.memory_swap, s.host.cpu_shares, s.host.auto_remove), (None, None, Some(true)));
    let rp = s.host.restart_policy.unwrap();
    assert_eq!((rp.name.as_deref(), rp.maximum_retry_count), (Some("no"), None));
    assert_eq!(s.host.network_mode.as_deref(), Some("default"));
    // Options the engine reads field by field keep Docker's shape.
    let m = &s.host.mounts.unwrap()[0];
    assert_eq!(m.tmpfs_options.as_ref().unwrap()["SizeBytes"], 1024);
    assert_eq!(m.tmpfs_options.as_ref().unwrap()["Mode"], 448);
    assert_eq!(s.host.port_bindings.unwrap()["80/tcp"][0]["HostPort"], "8080");
    assert_eq!(s.endpoints["front"].aliases, ["web"]);
}

#[test]
fn bad_types_fail_to_parse() {
    assert!(serde_json::from_str::<wire::ContainerCreateRequest>(r#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#)
        .is_err());
}

#[test]
fn real_clients_bodies_pass() {
    for body in [
        include_str!("../../../../../berth-api/src/container/fixtures/docker-cli-28-create.json"),
        include_str!("../../../../../berth-api/src/container/fixtures/docker-py-7.1-create.json"),
    ] {
        spec(parse(body), None).unwrap();
    }
}

#[test]
fn docker_pys_top_level_runtime_is_the_runtime() {
    let runtime = |body: &str| spec(parse(body), None).map(|s| s.host.runtime);
    assert_eq!(runtime(r#"{"Image": "b", "Runtime": "runc"}"#).unwrap().as_deref(), Some("runc"));
    let both = r#"{"Image": "b", "Runtime": "runc", "HostConfig": {"Runtime": "runc"}}"#;
    assert_eq!(runtime(both).unwrap().as_deref(), Some("runc"));
    let differ = r#"{"Image": "b", "Runtime": "runc", "HostConfig": {"Runtime": "berth"}}"#;
    assert!(runtime(differ).is_err());
    assert_eq!(runtime(r#"{"Image": "b"}"#).unwrap(), None);
}
