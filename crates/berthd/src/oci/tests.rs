use super::*;
use serde_json::Value;

fn input() -> SpecInput {
    SpecInput {
        args: vec!["sh".into()],
        hostname: "abc".into(),
        rootfs: "/r".into(),
        net_own: true,
        resources: Resources { memory: 64 << 20, nano_cpus: 500_000_000, pids_limit: 50, ..Default::default() },
        cap_add: vec!["net_admin".into()],
        cap_drop: vec!["CAP_KILL".into()],
        cgroups_path: "/berth/abc".into(),
        ..Default::default()
    }
}

fn json(i: &SpecInput) -> Value {
    serde_json::to_value(spec(i).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

#[test]
fn resources_and_caps() {
    let s = json(&input());
    assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50_000);
    assert_eq!(s["linux"]["resources"]["pids"]["limit"], 50);
    let caps = strings(&s["process"]["capabilities"]["bounding"]);
    assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_KILL".to_string()));
    assert_eq!(strings(&s["process"]["capabilities"]["inheritable"]), Vec::<String>::new());
    assert_eq!(s["process"]["cwd"], "/");
    // oci-spec's defaults (a 1024 nofile limit, youki's hostname) must not leak in.
    assert_eq!(s["process"]["rlimits"], serde_json::json!([]));
    assert_eq!(s["hostname"], "abc");
}

#[test]
fn capability_rules_follow_docker() {
    let all = caps::available();
    let default: Vec<String> = caps::DEFAULT.iter().map(|s| s.to_string()).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(caps::effective(&[], &[], false).unwrap(), default);
    assert_eq!(caps::effective(&s(&["ALL"]), &[], false).unwrap(), all);
    assert_eq!(caps::effective(&[], &[], true).unwrap(), all);
    assert_eq!(caps::effective(&[], &s(&["all"]), false).unwrap(), Vec::<String>::new());
    assert_eq!(caps::effective(&s(&["chown"]), &s(&["ALL"]), false).unwrap(), s(&["CAP_CHOWN"]));
    let v = caps::effective(&s(&["ALL"]), &s(&["net_raw"]), false).unwrap();
    assert!(!v.contains(&"CAP_NET_RAW".to_string()) && v.len() == all.len() - 1);
    assert_eq!(caps::effective(&s(&["Cap_Chown"]), &[], false).unwrap(), default, "an added default is not doubled");
    let e = caps::effective(&s(&["CAP_BOGUS"]), &[], false).unwrap_err();
    assert!(e.contains("unknown capability: \"CAP_BOGUS\""), "{e}");
}

#[test]
fn privileged_is_unmasked_with_every_device_and_rw_sys() {
    let mut i = input();
    i.privileged = true;
    let s = json(&i);
    assert_eq!(s["linux"]["maskedPaths"], serde_json::json!([]));
    assert_eq!(s["linux"]["readonlyPaths"], serde_json::json!([]));
    assert_eq!(s["linux"]["resources"]["devices"], serde_json::json!([{"allow": true, "type": "a", "access": "rwm"}]));
    for m in s["mounts"].as_array().unwrap() {
        if m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup" {
            assert!(!strings(&m["options"]).contains(&"ro".to_string()), "{m}");
        }
    }
    let unprivileged = json(&input());
    assert!(strings(&unprivileged["linux"]["maskedPaths"]).contains(&"/proc/interrupts".to_string()));
    assert_eq!(
        unprivileged["linux"]["resources"]["devices"][0],
        serde_json::json!({"allow": false, "type": "a", "access": "rwm"})
    );
}

#[test]
fn namespaces_follow_the_modes() {
    let types = |s: &Value| -> Vec<String> {
        s["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap().to_string()).collect()
    };
    let s = json(&input());
    assert_eq!(types(&s), ["mount", "network", "pid", "ipc", "uts"]);
    let mut i = input();
    i.pid = Ns::Host;
    i.ipc = Ipc::Host;
    i.uts_host = true;
    i.cgroupns_private = true;
    i.net = Ns::Join("/proc/7/ns/net".into());
    let s = json(&i);
    assert_eq!(types(&s), ["mount", "network", "cgroup"]);
    assert!(s.get("hostname").is_none(), "no hostname without a UTS namespace");
    let shm: Vec<&Value> = s["mounts"].as_array().unwrap().iter().filter(|m| m["destination"] == "/dev/shm").collect();
    assert_eq!(shm[0]["source"], "/dev/shm", "--ipc host shares the host's /dev/shm");
    i.ipc = Ipc::None;
    assert!(!json(&i)["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/dev/shm"));
}

#[test]
fn init_wraps_the_command() {
    let mut i = input();
    i.init = Some("/data/c/docker-init".into());
    let s = json(&i);
    assert_eq!(strings(&s["process"]["args"]), ["/sbin/docker-init", "--", "sh"]);
    let m = s["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sbin/docker-init").unwrap();
    assert_eq!(m["source"], "/data/c/docker-init");
    assert!(strings(&m["options"]).contains(&"ro".to_string()));
}

#[test]
fn device_rules_parse_like_docker() {
    let r = devices::parse_rule("c 1:3 mr").unwrap();
    assert_eq!(r.to_string(), "c 1:3 mr");
    assert_eq!(devices::parse_rule("b *:* m").unwrap().to_string(), "b *:* m");
    for bad in ["c 1:3", "x 1:3 r", "c 1:3 rwmx", "c a:3 r", "c 1:3 rr", "c  1:3 r", "c 1:-1 r"] {
        assert!(devices::parse_rule(bad).is_err(), "{bad}");
    }
    let mut m = crate::model::DeviceMapping { path_on_host: "/dev/null".into(), ..Default::default() };
    devices::check_mapping(&mut m).unwrap();
    assert_eq!((m.path_in_container.as_str(), m.cgroup_permissions.as_str()), ("/dev/null", "rwm"));
    for inside in ["/etc/null", "/dev/../etc/x", "dev/x", "/dev"] {
        let mut m = crate::model::DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: inside.into(),
            ..Default::default()
        };
        assert!(devices::check_mapping(&mut m).is_err(), "{inside}");
    }
    let mut m = crate::model::DeviceMapping { path_on_host: "/etc/passwd".into(), ..Default::default() };
    assert!(devices::check_mapping(&mut m).is_err());
}

#[test]
fn sysctls_only_in_own_namespaces() {
    let own = sysctl::OwnNamespaces { ipc: true, net: true, uts: true, user: false };
    for ok in ["net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max", "kernel.domainname"] {
        sysctl::check(ok, "1", own).unwrap();
    }
    for bad in [
        "kernel.panic",
        "vm.swappiness",
        "kernel.hostname",
        "net/../kernel/panic",
        "net..x",
        "user.max_user_namespaces",
    ] {
        assert!(sysctl::check(bad, "1", own).is_err(), "{bad}");
    }
    let host = sysctl::OwnNamespaces { ipc: false, net: false, uts: false, user: false };
    assert!(sysctl::check("net.ipv4.ip_forward", "1", host).unwrap_err().contains("network namespace"));
    assert!(sysctl::check("kernel.shmmax", "1", host).unwrap_err().contains("IPC"));
}

#[test]
fn ulimits_checked_and_merged() {
    use crate::model::Ulimit;
    let u = |n: &str, s: i64, h: i64| Ulimit { name: n.into(), soft: s, hard: h };
    ulimits::check(&u("nofile", 100, 200)).unwrap();
    assert!(ulimits::check(&u("nofiles", 1, 1)).unwrap_err().contains("invalid ulimit type"));
    assert!(ulimits::check(&u("nofile", 300, 200)).unwrap_err().contains("soft limit"));
    let merged = ulimits::merged(&[u("nofile", 1, 2)], &[u("nofile", 5, 5), u("nproc", 9, 9)]);
    assert_eq!(merged, vec![u("nofile", 1, 2), u("nproc", 9, 9)]);
    let r = ulimits::to_rlimits(&[u("core", -1, -1)]).unwrap();
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::json!([{"type": "RLIMIT_CORE", "soft": u64::MAX, "hard": u64::MAX}])
    );
}

#[test]
fn cpu_lists() {
    assert_eq!(defaults::cpu_list("0-3,8"), vec![0, 1, 2, 3, 8]);
    assert_eq!(defaults::cpu_list(""), Vec::<u32>::new());
}

#[test]
fn users() {
    let d = std::env::temp_dir().join(format!("berthd-oci-{}", std::process::id()));
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n").unwrap();
    std::fs::write(d.join("etc/group"), "root:x:0:\nnogroup:x:65534:\nwheel:x:10:nobody\n").unwrap();
    assert_eq!(resolve_user(&d, "nobody").unwrap(), (65534, 65534, vec![65534, 10]));
    assert_eq!(resolve_user(&d, "1000:wheel").unwrap(), (1000, 10, vec![10]));
    assert!(resolve_user(&d, "ghost").unwrap_err().contains("unable to find user ghost"));
    assert_eq!(group_add(&d, &["wheel".into(), "1234".into(), "65534".into()]).unwrap(), vec![10, 1234, 65534]);
    assert!(group_add(&d, &["staff".into()]).unwrap_err().contains("Unable to find group staff"));
    std::fs::remove_dir_all(&d).unwrap();
}
