use super::*;

fn tmpfile(name: &str, body: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("berthd-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("daemon.json");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn both_flag_and_file_uses_dockers_wording() {
    let p = tmpfile("both", r#"{"live-restore": true}"#);
    let flags = Flags::try_parse_from(["berthd", "--live-restore", "--config-file", p.to_str().unwrap()]).unwrap();
    let e = load(&flags).unwrap_err().to_string();
    assert!(e.contains("the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: true, from file: true)"), "{e}");
}

#[test]
fn unknown_key_is_named() {
    let p = tmpfile("unknown", r#"{"live-restore": true, "bogus-key": 1}"#);
    let e = read_file(&p, true).unwrap_err().to_string();
    assert!(e.contains("bogus-key") && e.contains(p.to_str().unwrap()), "{e}");
}

#[test]
fn bad_json_names_position() {
    let p = tmpfile("badjson", "{\n \"debug\": tru\n}");
    let e = read_file(&p, true).unwrap_err().to_string();
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn wrong_type_names_key() {
    let p = tmpfile("wrongtype", r#"{"shutdown-timeout": "ten"}"#);
    let e = read_file(&p, true).unwrap_err().to_string();
    assert!(e.contains("shutdown-timeout"), "{e}");
}

#[test]
fn defaults_and_file_values() {
    let p = tmpfile(
        "vals",
        r#"{"labels": ["a=b"], "shutdown-timeout": 3, "runtimes": {"runc": {"path": "/usr/sbin/runc"}}}"#,
    );
    let flags = Flags::try_parse_from(["berthd", "--config-file", p.to_str().unwrap(), "--debug"]).unwrap();
    let c = load(&flags).unwrap();
    assert!(!c.live_restore);
    assert!(c.debug);
    assert_eq!(c.shutdown_timeout, 3);
    assert_eq!(c.labels, vec!["a=b".to_string()]);
    assert_eq!(c.storage_driver, "overlay2");
    assert_eq!(c.runtimes["runc"].path, PathBuf::from("/usr/sbin/runc"));
    assert_eq!(c.socket_path(), PathBuf::from("/run/berth/berth.sock"));
}

#[test]
fn reload_applies_and_flags_restart_keys() {
    let mut cur = merge(&Flags::default(), &FileConfig::default()).unwrap();
    let new = merge(
        &Flags::default(),
        &FileConfig { live_restore: Some(true), storage_driver: Some("vfs".into()), ..Default::default() },
    )
    .unwrap();
    let out = apply_reload(&mut cur, &new);
    assert!(cur.live_restore);
    assert_eq!(cur.storage_driver, "overlay2");
    assert_eq!(out.needs_restart, vec!["storage-driver".to_string()]);
    assert_eq!(out.applied.len(), 1);
}

#[test]
fn address_pools_give_the_default_bridge_its_subnet_unless_bip_is_set() {
    let p = tmpfile("pools", r#"{"default-address-pools": [{"base": "10.77.0.0/16", "size": 24}]}"#);
    let c = load(&Flags::try_parse_from(["berthd", "--config-file", p.to_str().unwrap()]).unwrap()).unwrap();
    assert_eq!(c.bip, "10.77.0.1/24");
    assert!(c.ip_forward, "ip-forward defaults to true");
    let c = load(
        &Flags::try_parse_from([
            "berthd",
            "--config-file",
            p.to_str().unwrap(),
            "--bip",
            "10.78.0.1/24",
            "--ip-forward=false",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(c.bip, "10.78.0.1/24");
    assert!(!c.ip_forward);
    let subnets: Vec<String> =
        address_pool_subnets(&c.default_address_pools[0]).unwrap().take(2).map(|n| n.to_string()).collect();
    assert_eq!(subnets, ["10.77.0.0/24", "10.77.1.0/24"]);
}

#[test]
fn bad_address_pool_is_named() {
    for (body, why) in [
        (r#"{"default-address-pools": [{"base": "10.77.0.0/16", "size": 8}]}"#, "size must be between"),
        (r#"{"default-address-pools": [{"base": "nonsense", "size": 24}]}"#, "base is not an IPv4 subnet"),
    ] {
        let p = tmpfile("badpool", body);
        let e = load(&Flags::try_parse_from(["berthd", "--config-file", p.to_str().unwrap()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("default-address-pools") && e.contains(why), "{e}");
    }
    let p = tmpfile("badpooltype", r#"{"default-address-pools": [{"base": "10.77.0.0/16"}]}"#);
    let e = read_file(&p, true).unwrap_err().to_string();
    assert!(e.contains("default-address-pools") || e.contains("size"), "{e}");
}

#[test]
fn cgroup_parent_defaults_is_checked_and_needs_a_restart() {
    let c = merge(&Flags::default(), &FileConfig::default()).unwrap();
    assert_eq!(c.cgroup_parent, "/berth");
    let p = tmpfile("cgparent", r#"{"cgroup-parent": "/ci//jobs/"}"#);
    let c = load(&Flags::try_parse_from(["berthd", "--config-file", p.to_str().unwrap()]).unwrap()).unwrap();
    assert_eq!(c.cgroup_parent, "/ci/jobs");
    let e = load(
        &Flags::try_parse_from(["berthd", "--config-file", p.to_str().unwrap(), "--cgroup-parent", "/x"]).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cgroup-parent: (from flag: /x, from file: /ci//jobs/)"), "{e}");
    let bad = tmpfile("cgparentbad", r#"{"cgroup-parent": "/a/../b"}"#);
    let e = load(&Flags::try_parse_from(["berthd", "--config-file", bad.to_str().unwrap()]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cgroup-parent") && e.contains("'..'"), "{e}");
    let mut cur = c.clone();
    let new =
        merge(&Flags { cgroup_parent: Some("/other".into()), ..Default::default() }, &FileConfig::default()).unwrap();
    let out = apply_reload(&mut cur, &new);
    assert_eq!(out.needs_restart, vec!["cgroup-parent".to_string()]);
    assert_eq!(cur.cgroup_parent, "/ci/jobs");
}
