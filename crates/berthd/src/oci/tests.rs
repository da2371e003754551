use super::*;

fn input() -> SpecInput {
    SpecInput {
        args: vec!["sh".into()],
        env: vec![],
        cwd: String::new(),
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        hostname: "abc".into(),
        tty: false,
        rootfs: "/r".into(),
        readonly_rootfs: false,
        net: NetNs::New,
        resources: Resources { memory: 64 << 20, nano_cpus: 500_000_000, pids_limit: 50, ..Default::default() },
        mounts: vec![],
        privileged: false,
        cap_add: vec!["net_admin".into()],
        cap_drop: vec!["CAP_KILL".into()],
        cgroups_path: "/berth/abc".into(),
    }
}

#[test]
fn resources_and_caps() {
    let s = spec(&input());
    assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50_000);
    assert_eq!(s["linux"]["resources"]["pids"]["limit"], 50);
    let caps: Vec<String> = serde_json::from_value(s["process"]["capabilities"]["bounding"].clone()).unwrap();
    assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_KILL".to_string()));
    assert_eq!(s["process"]["cwd"], "/");
}

#[test]
fn users() {
    let d = std::env::temp_dir().join(format!("berthd-oci-{}", std::process::id()));
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n").unwrap();
    std::fs::write(d.join("etc/group"), "root:x:0:\nnogroup:x:65534:\nwheel:x:10:nobody\n").unwrap();
    assert_eq!(resolve_user(&d, "nobody").unwrap(), (65534, 65534, vec![10]));
    assert_eq!(resolve_user(&d, "1000:wheel").unwrap(), (1000, 10, vec![]));
    assert!(resolve_user(&d, "ghost").unwrap_err().contains("unable to find user ghost"));
    std::fs::remove_dir_all(&d).unwrap();
}
