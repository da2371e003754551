//! Issue 13, seccomp: Docker's default profile in effect, `--security-opt seccomp=…` and
//! `no-new-privileges`, the daemon.json keys, `docker info`. Probed from inside containers with
//! a static C program (`seccomp/probe.c`) that makes each raw syscall and prints its errno.

mod cache;
mod probe;

use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use probe::*;
use std::time::Duration;

const EPERM: &str = "1";
const EFAULT: &str = "14";
const ENOSYS: &str = "38";
const EDQUOT: &str = "122";

/// The syscalls Docker's default profile refuses with EPERM.
const DENIED: &[&str] = &[
    "keyctl",
    "add_key",
    "request_key",
    "unshare_user",
    "clone_newuser",
    "io_uring_setup",
    "userfaultfd",
    "perf_event_open",
    "socket_vsock",
    "socket_alg",
    "personality_norandom",
    "mount",
];
/// Ordinary calls that must keep working under it.
const ALLOWED: &[&str] = &["clone_plain", "socket_inet", "personality_query"];

const DENY_MKDIR: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#;
const DENY_MKDIR_EDQUOT: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122}]}"#;

#[test]
fn default_profile_denies_what_docker_denies() {
    let d = daemon("sc-default");
    let st = status(&d, &[]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("2"), "{st:?}");
    let mut ops: Vec<&str> = DENIED.to_vec();
    ops.extend_from_slice(ALLOWED);
    ops.push("clone3");
    // The same spec means the same filter under runc (the reference for the OCI semantics).
    for runtime in ["berth", "runc"] {
        let got = probe(&d, &["--runtime", runtime], &ops);
        assert_all(&got, DENIED, EPERM, &format!("default profile under {runtime}"));
        assert_all(&got, ALLOWED, "0", &format!("default profile under {runtime}, ordinary calls"));
        assert_eq!(got["clone3"], ENOSYS, "{runtime}: clone3 must fail with ENOSYS so that libcs fall back to clone");
    }
    // Ordinary work: a pipeline (fork, pipe, exec), files, a shell loop.
    let out = run(
        &d,
        &[],
        &["sh", "-c", "mkdir /tmp/a && echo hi > /tmp/a/f && cat /tmp/a/f | tr a-z A-Z; ls / | grep -c bin"],
    );
    assert_eq!(out, "HI\n1", "ordinary work under the default profile");
    // An exec'd process gets the container's filter too.
    d.run_detached(&["--name", "ex", IMAGE, "sleep", "1000"]);
    let st = parse_status(&d.docker_ok(&["exec", "ex", "cat", "/proc/self/status"]));
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("2"), "exec: {st:?}");
    // Loading it must not leave the exec'd process more capabilities than the container's.
    let init = parse_status(&d.docker_ok(&["exec", "ex", "cat", "/proc/1/status"]));
    for set in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(st.get(set), init.get(set), "exec'd process vs the container's init: {set}");
    }
    let st = parse_status(&d.docker_ok(&["exec", "--user", "65534", "ex", "cat", "/proc/self/status"]));
    assert_eq!(
        (st["Seccomp"].as_str(), st["CapEff"].as_str()),
        ("2", "0000000000000000"),
        "exec as another user: {st:?}"
    );
    let got = parse_probe(&d.docker_ok(&["exec", "ex", "/probe", "keyctl", "clone_newuser", "clone_plain"]));
    assert_eq!(got, parse_probe("keyctl=1\nclone_newuser=1\nclone_plain=0"), "exec");
    assert!(d.inspect("ex")["HostConfig"]["SecurityOpt"].is_null(), "nothing was asked for");
}

#[test]
fn cap_sys_admin_ungates_mount_unshare_and_clone3() {
    let d = daemon("sc-sysadmin");
    let got = probe(
        &d,
        &["--cap-add", "SYS_ADMIN"],
        &["mount", "unshare_user", "unshare_mnt", "clone_newuser", "clone3", "keyctl"],
    );
    // EFAULT: the filter let mount through and the kernel read the bad type pointer.
    assert_eq!(got["mount"], EFAULT, "{got:?}");
    assert_all(&got, &["unshare_user", "unshare_mnt", "clone_newuser", "clone3"], "0", "with CAP_SYS_ADMIN");
    assert_eq!(got["keyctl"], EPERM, "the keyrings are not gated by a capability: {got:?}");
    let out = run(
        &d,
        &["--cap-add", "SYS_ADMIN"],
        &["sh", "-c", "mount -t tmpfs none /tmp && grep -c ' /tmp tmpfs' /proc/mounts"],
    );
    assert_eq!(out, "1");
    // Another gated group: CAP_SYS_PTRACE is not needed for ptrace on this kernel (>= 4.8), but
    // without CAP_SYS_ADMIN, mount stays refused even with other capabilities.
    assert_eq!(probe(&d, &["--cap-add", "NET_ADMIN"], &["mount"])["mount"], EPERM);
}

#[test]
fn unconfined_and_privileged_run_without_a_filter() {
    let d = daemon("sc-unconfined");
    let st = status(&d, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("0"), "{st:?}");
    let got = probe(&d, &["--security-opt", "seccomp=unconfined"], &["keyctl", "unshare_user", "personality_norandom"]);
    assert_all(&got, &["keyctl", "unshare_user", "personality_norandom"], "0", "unconfined");
    let st = status(&d, &["--privileged"]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("0"), "--privileged has no filter (Docker's rule): {st:?}");
    // Unless one is given explicitly.
    let p = profile_file(&d, "deny-mkdir.json", DENY_MKDIR);
    let st = status(&d, &["--privileged", "--security-opt", &format!("seccomp={p}")]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("2"), "{st:?}");
    let st = status(&d, &["--security-opt", "seccomp=builtin"]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("2"), "{st:?}");
}

#[test]
fn custom_profile_denies_mkdir_with_its_errno() {
    let d = daemon("sc-custom");
    let p = profile_file(&d, "deny-mkdir.json", DENY_MKDIR);
    let opt = format!("seccomp={p}");
    let out = d.docker(&["run", "--rm", "--security-opt", &opt, IMAGE, "mkdir", "/tmp/x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Operation not permitted"), "mkdir under a profile denying it: {err}");
    let got = probe(&d, &["--security-opt", &opt], &["mkdir", "keyctl"]);
    assert_eq!((got["mkdir"].as_str(), got["keyctl"].as_str()), (EPERM, "0"), "only mkdir is denied: {got:?}");
    let p2 = profile_file(&d, "deny-mkdir-edquot.json", DENY_MKDIR_EDQUOT);
    let got = probe(&d, &["--security-opt", &format!("seccomp={p2}")], &["mkdir"]);
    assert_eq!(got["mkdir"], EDQUOT, "errnoRet of the rule: {got:?}");
    // inspect shows what the CLI sent: the profile's content, compacted.
    d.docker_ok(&["create", "--name", "cc", "--security-opt", &opt, IMAGE, "true"]);
    let sec = d.inspect("cc")["HostConfig"]["SecurityOpt"].clone();
    let sent = sec[0].as_str().unwrap_or_default();
    assert!(sent.starts_with("seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\""), "{sec}");
}

#[test]
fn malformed_profiles_and_unknown_options_are_400_and_leave_no_container() {
    let d = daemon("sc-malformed");
    let p = profile_file(
        &d,
        "bad.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}"#,
    );
    let (code, err) = d.docker_err(&["run", "--rm", "--security-opt", &format!("seccomp={p}"), IMAGE, "true"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("syscalls[0].action") && err.contains("SCMP_ACT_MAYBE"),
        "the message says what is wrong: {err}"
    );
    let typo = profile_file(
        &d,
        "typo.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "inlcudes": {}}]}"#,
    );
    let (_, err) = d.docker_err(&["create", "--security-opt", &format!("seccomp={typo}"), IMAGE, "true"]);
    assert!(err.contains("inlcudes"), "{err}");
    for (opt, why) in [
        ("seccomp={\"defaultAction\":", "EOF"),
        ("seccomp=/etc/seccomp.json", "does not read profile files"),
        ("seccomp={}", "defaultAction is missing"),
        ("no-new-privileges=maybe", "no-new-privileges"),
        ("apparmor=docker-default", "AppArmor"),
        ("label=type:container_t", "SELinux"),
        ("systempaths=unconfined", "MaskedPaths"),
        ("mask=/proc/kcore", "mask"),
    ] {
        let body =
            serde_json::json!({"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"SecurityOpt": [opt]}}).to_string();
        let r = d.api_post("/containers/create", &body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 400, "{opt}: {text}");
        assert!(text.contains(why), "{opt}: the message must say {why:?}: {text}");
    }
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "no container may be left");
    let left: Vec<_> =
        std::fs::read_dir(d.data_root.join("containers")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "container directories left behind: {left:?}");
    // What is true anyway is accepted.
    let st = status(&d, &["--security-opt", "apparmor=unconfined", "--security-opt", "label=disable"]);
    assert_eq!(st.get("Seccomp").map(String::as_str), Some("2"));
}

#[test]
fn no_new_privileges_stops_a_setuid_binary() {
    let d = daemon("sc-nnp");
    assert_eq!(
        run(&d, &["--user", "65534"], &["/suid-probe", "euid"]),
        "euid=0",
        "setuid root works without no-new-privileges"
    );
    for opt in ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"] {
        assert_eq!(
            run(&d, &["--user", "65534", "--security-opt", opt], &["/suid-probe", "euid"]),
            "euid=65534",
            "{opt}"
        );
    }
    let st = status(&d, &["--security-opt", "no-new-privileges"]);
    assert_eq!(st.get("NoNewPrivs").map(String::as_str), Some("1"), "{st:?}");
    let st = status(&d, &["--security-opt", "no-new-privileges=false"]);
    assert_eq!(st.get("NoNewPrivs").map(String::as_str), Some("0"), "{st:?}");
    d.run_detached(&["--name", "nn", "--security-opt", "no-new-privileges", IMAGE, "sleep", "1000"]);
    let st = parse_status(&d.docker_ok(&["exec", "nn", "cat", "/proc/self/status"]));
    let got = (st.get("NoNewPrivs").map(String::as_str), st.get("Seccomp").map(String::as_str));
    assert_eq!(got, (Some("1"), Some("2")), "exec: {st:?}");
}

#[test]
fn a_restart_by_the_monitor_keeps_the_filter() {
    // While the daemon is down the monitor restarts a container from the same bundle: the
    // runtime's fixes to the spec must hold on the second create too.
    let mut d = with_image(TestDaemon::start(DaemonOpts::new("sc-selfrestart").live_restore(true)));
    let script = "/probe clone_newuser keyctl; sleep 1000";
    let id = d.run_detached(&["--name", "rs", "--restart", "always", IMAGE, "sh", "-c", script]);
    let log = d.data_root.join("containers").join(&id).join(format!("{id}-json.log"));
    let runs = || std::fs::read_to_string(&log).unwrap_or_default().matches("clone_newuser=").count();
    assert!(wait_until(Duration::from_secs(10), || runs() == 1));
    let pid = d.container_pid("rs");
    d.kill9();
    d.wait_exit(Duration::from_secs(5)).expect("daemon gone");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_until(Duration::from_secs(15), || runs() == 2), "the monitor did not restart it");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("clone_newuser=1").count(), 2, "{text}");
    assert_eq!(text.matches("keyctl=1").count(), 2, "{text}");
    d.restart();
}

#[test]
fn daemon_json_defaults_apply_to_new_containers_only() {
    let mut d = daemon("sc-daemon");
    assert_eq!(security_options(&d), vec!["name=seccomp,profile=builtin"]);
    let p = profile_file(&d, "daemon-deny-mkdir.json", DENY_MKDIR);
    d.write_config(&format!(r#"{{"seccomp-profile": "{p}", "no-new-privileges": true}}"#));
    d.term();
    d.restart();
    assert_eq!(security_options(&d), vec![format!("name=seccomp,profile={p}"), "name=no-new-privileges".into()]);
    let warnings = d.docker_ok(&["info", "-f", "{{json .Warnings}}"]);
    assert!(warnings.contains("not using the default seccomp profile"), "{warnings}");
    assert_eq!(probe(&d, &[], &["mkdir", "keyctl"]), parse_probe("mkdir=1\nkeyctl=0"), "the daemon's profile applies");
    assert_eq!(status(&d, &[]).get("NoNewPrivs").map(String::as_str), Some("1"));
    // A container's own options still win.
    let got = probe(&d, &["--security-opt", "seccomp=builtin"], &["mkdir", "keyctl"]);
    assert_eq!(got, parse_probe("mkdir=0\nkeyctl=1"));
    assert_eq!(
        status(&d, &["--security-opt", "no-new-privileges=false"]).get("NoNewPrivs").map(String::as_str),
        Some("0")
    );

    // Invariant 8: created under these defaults, kept when the daemon's change, and when the
    // profile file goes away.
    d.docker_ok(&["create", "--name", "old", IMAGE, "/probe", "mkdir", "keyctl"]);
    d.write_config(r#"{"seccomp-profile": "unconfined"}"#);
    d.hup();
    assert!(
        wait_until(Duration::from_secs(10), || security_options(&d) == vec!["name=seccomp,profile=unconfined"]),
        "SIGHUP did not apply the new defaults: {:?}\n{}",
        security_options(&d),
        d.log_tail(20)
    );
    std::fs::remove_file(&p).unwrap();
    assert_eq!(status(&d, &[]).get("Seccomp").map(String::as_str), Some("0"), "new containers: unconfined");
    assert_eq!(
        parse_probe(&d.docker_ok(&["start", "-a", "old"])),
        parse_probe("mkdir=1\nkeyctl=0"),
        "old container keeps its profile"
    );
    d.term();
    d.restart();
    assert_eq!(
        parse_probe(&d.docker_ok(&["start", "-a", "old"])),
        parse_probe("mkdir=1\nkeyctl=0"),
        "and after a restart"
    );
    d.docker_ok(&["create", "--name", "nnp-old", IMAGE, "cat", "/proc/self/status"]);
    let st = parse_status(&d.docker_ok(&["start", "-a", "nnp-old"]));
    assert_eq!(st.get("NoNewPrivs").map(String::as_str), Some("0"), "no-new-privileges is off in the new defaults");
}

/// Starts a daemon that must refuse its configuration; returns its log.
fn refused(name: &str, config: &str) -> String {
    let mut d = TestDaemon::spawn(DaemonOpts::new(name).config(config));
    let st = d.wait_exit(Duration::from_secs(10));
    let log = d.log_text();
    assert!(st.is_some_and(|s| !s.success()), "the daemon must refuse {config}; log:\n{log}");
    log
}

#[test]
fn bad_daemon_values_are_refused_with_the_key() {
    let log = refused("sc-badpath", r#"{"seccomp-profile": "/nonexistent/berth-profile.json"}"#);
    assert!(log.contains("seccomp-profile") && log.contains("/nonexistent/berth-profile.json"), "{log}");
    let log = refused("sc-relative", r#"{"seccomp-profile": "profile.json"}"#);
    assert!(log.contains("seccomp-profile") && log.contains("absolute path"), "{log}");
    let log = refused("sc-nnpbad", r#"{"no-new-privileges": "yes"}"#);
    assert!(log.contains("no-new-privileges"), "{log}");
    let bad = std::env::temp_dir().join(format!("berth-sc-bad-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#).unwrap();
    let log = refused("sc-badfile", &format!(r#"{{"seccomp-profile": "{}"}}"#, bad.display()));
    let _ = std::fs::remove_file(&bad);
    assert!(log.contains("seccomp-profile") && log.contains("architectures[0]"), "{log}");

    // On SIGHUP a bad profile is refused by name and the running defaults stay.
    let mut d = daemon("sc-badhup");
    let p = profile_file(
        &d,
        "bad.json",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"]}]}",
    );
    d.write_config(&format!(r#"{{"seccomp-profile": "{p}"}}"#));
    d.hup();
    assert!(
        wait_until(Duration::from_secs(10), || d.log_text().contains("configuration reload failed")),
        "no reload failure logged:\n{}",
        d.log_tail(20)
    );
    let log = d.log_tail(5);
    assert!(log.contains("seccomp-profile") && log.contains("missing field `action`"), "{log}");
    assert!(d.is_running());
    assert_eq!(security_options(&d), vec!["name=seccomp,profile=builtin"]);
}

/// Not a check: the cost of the filter per start, for the report (`-- --ignored --nocapture`).
#[test]
#[ignore]
fn start_cost_of_the_filter() {
    // BERTH_COST_BIN_DIR=target/release measures release binaries.
    let mut opts = DaemonOpts::new("sc-cost");
    if let Some(dir) = std::env::var_os("BERTH_COST_BIN_DIR").map(std::path::PathBuf::from) {
        opts.daemon_binary = Some(dir.join("berthd"));
        opts = opts.env("BERTH_RUNTIME", dir.join("berth-runtime").to_str().unwrap());
        opts = opts.env("BERTH_SHIM", dir.join("berth-shim").to_str().unwrap());
    }
    let d = with_image(TestDaemon::start(opts));
    let time = |opts: &[&str]| {
        let t = std::time::Instant::now();
        run(&d, opts, &["true"]);
        t.elapsed().as_secs_f64() * 1000.0
    };
    let (mut with, mut without) = (vec![], vec![]);
    for _ in 0..20 {
        with.push(time(&[]));
        without.push(time(&["--security-opt", "seccomp=unconfined"]));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!(
        "run --rm: builtin profile {:.1} ms, unconfined {:.1} ms (medians of 20)",
        median(&mut with),
        median(&mut without)
    );
}
