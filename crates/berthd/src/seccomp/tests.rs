use super::profile::KernelVersion;
use super::*;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompOperator as Op, LinuxSyscall};

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn amd64(kernel: (u32, u32)) -> Host {
    Host { native: "amd64", arch: Some(Arch::ScmpArchX86_64), kernel: Some(KernelVersion(kernel.0, kernel.1)) }
}

fn resolved(extra_caps: &[&str], host: &Host) -> LinuxSeccomp {
    let caps: Vec<String> = DOCKER_CAPS.iter().chain(extra_caps).map(|s| s.to_string()).collect();
    builtin().resolve(host, &caps).unwrap()
}

fn rules_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    s.syscalls().iter().flatten().filter(|r| r.names().iter().any(|n| n == name)).collect()
}

/// Allowed whatever the arguments.
fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
    rules_for(s, name).iter().any(|r| r.action() == A::ScmpActAllow && r.args().as_ref().is_none_or(|a| a.is_empty()))
}

#[test]
fn builtin_denies_what_docker_denies() {
    let s = resolved(&[], &amd64((6, 18)));
    assert_eq!(s.default_action(), A::ScmpActErrno);
    assert_eq!(s.default_errno_ret(), Some(1));
    assert_eq!(s.architectures().clone().unwrap(), vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]);
    for denied in [
        "keyctl",
        "add_key",
        "request_key",
        "io_uring_setup",
        "io_uring_enter",
        "userfaultfd",
        "perf_event_open",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "kexec_load",
        "open_by_handle_at",
        "bpf",
        "reboot",
        "init_module",
        "swapon",
        "pivot_root",
        "acct",
        "settimeofday",
        "syslog",
        "vhangup",
        "iopl",
        "mbind",
        "kcmp",
    ] {
        assert!(rules_for(&s, denied).iter().all(|r| r.action() != A::ScmpActAllow), "{denied} is allowed");
    }
    for ok in ["read", "execve", "fork", "mkdir", "chroot", "arch_prctl", "modify_ldt", "process_vm_readv", "ptrace"] {
        assert!(allowed(&s, ok), "{ok} is not allowed");
    }
    assert!(!allowed(&s, "clone") && !allowed(&s, "socket") && !allowed(&s, "personality"));
}

#[test]
fn clone_socket_and_personality_are_filtered_by_argument() {
    let s = resolved(&[], &amd64((6, 18)));
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1, "{clone:?}");
    let arg = clone[0].args().clone().unwrap()[0];
    assert_eq!((arg.index(), arg.value(), arg.value_two(), arg.op()), (0, 0x7E02_0000, Some(0), Op::ScmpCmpMaskedEq));
    let clone3 = rules_for(&s, "clone3");
    assert_eq!((clone3.len(), clone3[0].action(), clone3[0].errno_ret()), (1, A::ScmpActErrno, Some(38)));
    let families: Vec<(u64, Op)> =
        rules_for(&s, "socket").iter().map(|r| r.args().clone().unwrap()[0]).map(|a| (a.value(), a.op())).collect();
    assert_eq!(families, vec![(38, Op::ScmpCmpLt), (39, Op::ScmpCmpEq), (40, Op::ScmpCmpGt)]);
    let personas: Vec<u64> =
        rules_for(&s, "personality").iter().map(|r| r.args().clone().unwrap()[0].value()).collect();
    assert_eq!(personas, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
}

#[test]
fn capabilities_ungate_their_groups() {
    let host = amd64((6, 18));
    let admin = resolved(&["CAP_SYS_ADMIN"], &host);
    for n in ["mount", "unshare", "setns", "clone", "clone3", "sethostname", "bpf", "perf_event_open", "syslog"] {
        assert!(allowed(&admin, n), "{n} with CAP_SYS_ADMIN");
    }
    assert!(rules_for(&admin, "clone3").iter().all(|r| r.action() == A::ScmpActAllow), "clone3 keeps its ENOSYS rule");
    let ptrace = resolved(&["CAP_SYS_PTRACE"], &host);
    assert!(allowed(&ptrace, "kcmp") && allowed(&ptrace, "pidfd_getfd"));
    for (cap, call) in [
        ("CAP_SYS_TIME", "clock_settime"),
        ("CAP_SYS_MODULE", "finit_module"),
        ("CAP_SYS_BOOT", "reboot"),
        ("CAP_SYS_PACCT", "acct"),
        ("CAP_SYS_RAWIO", "iopl"),
        ("CAP_SYS_TTY_CONFIG", "vhangup"),
        ("CAP_SYS_NICE", "mbind"),
        ("CAP_SYSLOG", "syslog"),
        ("CAP_BPF", "bpf"),
        ("CAP_PERFMON", "perf_event_open"),
        ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    ] {
        assert!(allowed(&resolved(&[cap], &host), call), "{call} with {cap}");
    }
    let mut no_chroot: Vec<String> =
        DOCKER_CAPS.iter().map(|s| s.to_string()).filter(|c| c != "CAP_SYS_CHROOT").collect();
    no_chroot.sort();
    assert!(!allowed(&builtin().resolve(&host, &no_chroot).unwrap(), "chroot"), "chroot without CAP_SYS_CHROOT");
}

#[test]
fn kernel_and_architecture_conditions() {
    let old = resolved(&[], &amd64((4, 7)));
    assert!(!allowed(&old, "ptrace"), "ptrace is allowed before 4.8 only with CAP_SYS_PTRACE");
    assert!(allowed(&resolved(&[], &amd64((4, 8))), "ptrace"));
    let arm = Host { native: "arm64", arch: Some(Arch::ScmpArchAarch64), kernel: Some(KernelVersion(6, 1)) };
    let s = resolved(&[], &arm);
    assert_eq!(s.architectures().clone().unwrap(), vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]);
    assert!(allowed(&s, "set_tls") && !allowed(&s, "arch_prctl") && !allowed(&s, "modify_ldt"));
    let unknown = Host { kernel: None, ..amd64((0, 0)) };
    assert!(builtin().resolve(&unknown, &[]).is_err(), "a minKernel rule needs the kernel version");
}

/// [`apply_to_spec`] on a spec given as JSON, read back as JSON.
fn apply_json(spec: &mut serde_json::Value, record: &SeccompRecord, no_new_privileges: bool) -> Result<(), String> {
    let mut typed: oci_spec::runtime::Spec = serde_json::from_value(spec.clone()).unwrap();
    let r = apply_to_spec(&mut typed, record, no_new_privileges);
    *spec = serde_json::to_value(&typed).unwrap();
    r
}

#[test]
fn the_spec_gets_the_section_and_no_new_privileges() {
    let mut spec = serde_json::json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": DOCKER_CAPS}, "noNewPrivileges": false}, "linux": {}});
    apply_json(&mut spec, &SeccompRecord::Builtin, true).unwrap();
    assert_eq!(spec["process"]["noNewPrivileges"], true);
    assert_eq!(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(spec["linux"]["seccomp"]["architectures"][0], "SCMP_ARCH_X86_64");
    let clone = spec["linux"]["seccomp"]["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["names"] == serde_json::json!(["clone"]))
        .unwrap()
        .clone();
    assert_eq!(
        clone["args"][0],
        serde_json::json!({"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"})
    );
    let mut spec = serde_json::json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "noNewPrivileges": false}, "linux": {}});
    apply_json(&mut spec, &SeccompRecord::Unconfined, false).unwrap();
    assert!(spec["linux"].get("seccomp").is_none());
    assert!(spec["process"].get("noNewPrivileges").is_none(), "false is written as absent (libcontainer's load order)");
    let missing = SeccompRecord::Custom { profile: "/nonexistent/seccomp.json".into(), origin: "api".into() };
    assert!(apply_json(&mut spec, &missing, false).unwrap_err().contains("/nonexistent/seccomp.json"));
}

/// Not a check: the figures for the report (`cargo test -p berthd --release -- --ignored --nocapture resolve_cost`).
#[test]
#[ignore]
fn resolve_cost() {
    let t = std::time::Instant::now();
    let p = Profile::parse(BUILTIN_JSON).unwrap();
    let parse = t.elapsed();
    let caps: Vec<String> = DOCKER_CAPS.iter().map(|s| s.to_string()).collect();
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let mut spec = serde_json::json!({"process": {"capabilities": {"bounding": caps}}, "linux": {}});
        let s = p.resolve(Host::current(), &caps).unwrap();
        spec["linux"]["seccomp"] = serde_json::to_value(&s).unwrap();
        std::hint::black_box(serde_json::to_vec(&spec).unwrap());
    }
    eprintln!("parse {parse:?}; resolve + into the spec + serialize: {:?} per container", t.elapsed() / n);
}

#[test]
fn daemon_keys_as_flags_and_in_the_file() {
    use crate::config::{load, Flags};
    use clap::Parser;
    let dir = std::env::temp_dir().join(format!("berthd-seccomp-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("p.json");
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    let file = dir.join("daemon.json");
    let cfg = |body: String, extra: &[&str]| {
        std::fs::write(&file, body).unwrap();
        let mut args = vec!["berthd", "--config-file", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        load(&Flags::try_parse_from(args).unwrap())
    };
    let c = cfg(format!(r#"{{"seccomp-profile": "{}", "no-new-privileges": true}}"#, profile.display()), &[]).unwrap();
    assert_eq!(c.seccomp_profile.name(), profile.display().to_string());
    assert!(c.no_new_privileges);
    let c = cfg("{}".into(), &["--seccomp-profile", "unconfined", "--no-new-privileges"]).unwrap();
    assert_eq!((c.seccomp_profile, c.no_new_privileges), (DaemonSeccomp::Unconfined, true));
    assert_eq!(cfg("{}".into(), &[]).unwrap().seccomp_profile, DaemonSeccomp::Builtin);
    let both = cfg(r#"{"no-new-privileges": false}"#.into(), &["--no-new-privileges"]).unwrap_err().to_string();
    assert!(both.contains("no-new-privileges: (from flag: true, from file: false)"), "{both}");
    let bad = cfg(r#"{"seccomp-profile": "/nonexistent/p.json"}"#.into(), &[]).unwrap_err().to_string();
    assert!(bad.contains("invalid value for seccomp-profile") && bad.contains("/nonexistent/p.json"), "{bad}");
    std::fs::remove_dir_all(&dir).unwrap();
}
