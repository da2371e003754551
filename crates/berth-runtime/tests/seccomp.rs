//! The runtime loads a bundle's seccomp filter itself, from its cache, for the init and for an
//! exec, and leaves the bundle's config.json as it found it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

#[test]
fn the_filter_is_loaded_from_the_cache_and_the_bundle_is_left_alone() {
    become_subreaper();
    let c = TestContainer::new(
        "busybox mkdir /tmp/x 2>&1 || echo denied; busybox grep -E '^(Seccomp|Seccomp_filters|CapEff|CapPrm):' \
         /proc/self/status; echo ready; sleep 1000",
    );
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.bundle.join("config.json")).unwrap()).unwrap();
    // Without no_new_privs: the load needs the CAP_SYS_ADMIN loan, which must be given back.
    cfg["process"].as_object_mut().unwrap().remove("noNewPrivileges");
    cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122}]});
    c.write_config(&cfg);
    let before = std::fs::read(c.bundle.join("config.json")).unwrap();
    assert!(c.create().success(), "{}", std::fs::read_to_string(&c.stdout_path).unwrap_or_default());
    assert_eq!(std::fs::read(c.bundle.join("config.json")).unwrap(), before, "config.json is the caller's, untouched");
    let st = c.state();
    assert_eq!(
        st["bundle"].as_str().unwrap(),
        std::fs::canonicalize(&c.bundle).unwrap().to_str().unwrap(),
        "the state names the real bundle, not libcontainer's copy"
    );
    assert!(!c.root.join("@create").join(&c.id).exists(), "libcontainer's copy of the spec is gone");
    let cached: Vec<_> = std::fs::read_dir(c.root.join("@seccomp")).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1);
    c.run_ok(&["start", &c.id]);
    let out = c.wait_output("ready", T);
    assert!(out.contains("Disk quota exceeded") && out.contains("denied"), "{out}");
    assert!(out.contains("Seccomp:\t2") && out.contains("Seccomp_filters:\t1"), "{out}");
    let cap = |set: &str| {
        let l = out.lines().find(|l| l.starts_with(set)).unwrap();
        u64::from_str_radix(l.split('\t').nth(1).unwrap().trim(), 16).unwrap()
    };
    assert_eq!((cap("CapEff:") >> 21 & 1, cap("CapPrm:") >> 21 & 1), (0, 0), "CAP_SYS_ADMIN given back: {out}");
    let p = c.dir.path().join("p.json");
    let proc_json = json!({"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "env": ["PATH=/bin"], "args": ["sh", "-c", "busybox mkdir /tmp/y || exit 9"],
        "capabilities": cfg["process"]["capabilities"].clone()});
    std::fs::write(&p, serde_json::to_vec(&proc_json).unwrap()).unwrap();
    let out = c.run(&["exec", "--process", p.to_str().unwrap(), &c.id]);
    assert_eq!(out.status.code(), Some(9), "exec filtered: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(c.bundle.join("config.json")).unwrap(), before);
}
