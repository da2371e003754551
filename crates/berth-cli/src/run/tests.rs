use super::*;
use clap::Parser;

#[derive(Parser)]
struct T {
    #[command(flatten)]
    a: RunArgs,
}

fn args(v: &[&str]) -> RunArgs {
    T::try_parse_from(std::iter::once("run").chain(v.iter().copied())).unwrap().a
}

#[test]
fn flags_and_trailing_command() {
    let a = args(&[
        "-d",
        "--rm",
        "--name",
        "t",
        "-e",
        "A=1",
        "-e",
        "B=2",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "-l",
        "k=v",
        "--stop-timeout",
        "5",
        "--stop-signal",
        "SIGUSR1",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--network",
        "none",
        "--restart",
        "on-failure:3",
        "--runtime",
        "runc",
        "-it",
        "busybox",
        "sh",
        "-c",
        "echo -n hi",
    ]);
    assert!(a.detach && a.rm && a.interactive && a.tty);
    assert_eq!(a.command, ["sh", "-c", "echo -n hi"]);
    let b = create_body(&a).unwrap();
    let v = serde_json::to_value(&b).unwrap();
    assert_eq!(v["Image"], "busybox");
    assert_eq!(v["Cmd"], serde_json::json!(["sh", "-c", "echo -n hi"]));
    assert_eq!(v["Env"], serde_json::json!(["A=1", "B=2"]));
    assert_eq!(v["Labels"], serde_json::json!({"k": "v"}));
    assert_eq!(v["WorkingDir"], "/tmp");
    assert_eq!(v["User"], "1000:1000");
    assert_eq!(v["StopTimeout"], 5);
    assert_eq!(v["StopSignal"], "SIGUSR1");
    assert_eq!(v["Tty"], true);
    assert_eq!(v["OpenStdin"], true);
    // Detached: nothing attached.
    assert_eq!(v["AttachStdout"], false);
    assert_eq!(v["AttachStdin"], false);
    let h = &v["HostConfig"];
    assert_eq!(h["Memory"], 64 << 20);
    assert_eq!(h["NanoCpus"], 500_000_000);
    assert_eq!(h["PidsLimit"], 50);
    assert_eq!(h["NetworkMode"], "none");
    assert_eq!(h["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3}));
    assert_eq!(h["Runtime"], "runc");
    assert_eq!(h["AutoRemove"], true);
    // The daemon's parser takes back what we send.
    let back: ContainerCreateRequest = serde_json::from_value(v).unwrap();
    assert_eq!(back, b);
}

#[test]
fn defaults_and_entrypoint() {
    let a = args(&["busybox"]);
    let v = serde_json::to_value(create_body(&a).unwrap()).unwrap();
    assert!(v["Cmd"].is_null());
    assert!(v["Entrypoint"].is_null());
    assert_eq!(v["AttachStdout"], true);
    assert_eq!(v["HostConfig"]["NetworkMode"], "default");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert!(v["HostConfig"]["PidsLimit"].is_null());
    let a = args(&["--entrypoint", "", "busybox"]);
    assert_eq!(create_body(&a).unwrap().config.entrypoint, Some(vec![String::new()]));
    // Flags after the image belong to the command.
    let a = args(&["busybox", "ls", "-l", "--rm"]);
    assert!(!a.rm);
    assert_eq!(a.command, ["ls", "-l", "--rm"]);
}

#[test]
fn sizes_restart_and_ports() {
    assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
    assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
    assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
    assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
    assert_eq!(parse_bytes("1000").unwrap(), 1000);
    assert_eq!(parse_bytes("100b").unwrap(), 100);
    assert!(parse_bytes("lots").is_err());
    assert!(parse_bytes("-5m").is_err());

    assert_eq!(parse_restart("always").unwrap().name, "always");
    assert_eq!(parse_restart("on-failure:5").unwrap().maximum_retry_count, 5);
    assert!(parse_restart("sometimes").is_err());
    assert!(parse_restart("always:3").is_err());

    let b = |ip: &str, port: &str| PortBinding { host_ip: ip.into(), host_port: port.into() };
    assert_eq!(parse_publish("8080:80").unwrap(), ("80/tcp".into(), b("", "8080")));
    assert_eq!(parse_publish("127.0.0.1:8080:80/udp").unwrap(), ("80/udp".into(), b("127.0.0.1", "8080")));
    assert_eq!(parse_publish("127.0.0.1::80").unwrap(), ("80/tcp".into(), b("127.0.0.1", "")));
    assert_eq!(parse_publish("80").unwrap(), ("80/tcp".into(), b("", "")));
    assert_eq!(parse_publish("[::1]:8080:80").unwrap(), ("80/tcp".into(), b("::1", "8080")));
    assert!(parse_publish("x:80").is_err());
    assert!(parse_publish("8080:http").is_err());

    let a = args(&["-p", "8080:80", "-p", "127.0.0.1:9090:80", "--expose", "443", "busybox"]);
    let v = serde_json::to_value(create_body(&a).unwrap()).unwrap();
    assert_eq!(v["ExposedPorts"], serde_json::json!({"80/tcp": {}, "443/tcp": {}}));
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"],
        serde_json::json!([{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9090"}])
    );
}
