//! `--ulimit`, daemon.json `default-ulimits`, `--oom-score-adj`, `--shm-size`, the memory
//! reservation and the resolver options: what the process sees, and a clear 400 for what this
//! host cannot grant.

use super::*;
use serde_json::json;

/// (soft, hard) of one line of /proc/<pid>/limits.
fn limit(limits: &str, name: &str) -> (String, String) {
    let l = limits.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {limits}"));
    let f: Vec<&str> = l[name.len()..].split_whitespace().collect();
    (f[0].to_string(), f[1].to_string())
}

fn has_sys_resource(pid: u32) -> bool {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    u64::from_str_radix(&status_field(&s, "CapEff"), 16).unwrap() & (1 << 24) != 0
}

#[test]
fn ulimits_reach_the_process() {
    let cfg = json!({"default-ulimits": {"nproc": {"Name": "nproc", "Soft": 3000, "Hard": 4000}, "nofile": {"Name": "nofile", "Soft": 900, "Hard": 900}}});
    let d = daemon_with(DaemonOpts::new("sec-ulimit").config(cfg.to_string()));
    let own = run(&d, &["--ulimit", "nofile=1024:2048", "busybox", "cat", "/proc/self/limits"]);
    assert_eq!(limit(&own, "Max open files"), ("1024".into(), "2048".into()), "{own}");
    assert_eq!(
        limit(&own, "Max processes"),
        ("3000".into(), "4000".into()),
        "the daemon's default for what --ulimit does not set"
    );
    let defaults = run(&d, &["busybox", "cat", "/proc/self/limits"]);
    assert_eq!(limit(&defaults, "Max open files"), ("900".into(), "900".into()), "{defaults}");
    let v = created(&d, &["--ulimit", "nofile=1024:2048"]);
    assert_eq!(v["HostConfig"]["Ulimits"], json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}]));

    let body = |u: Value| json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Ulimits": u}});
    assert_refused(&d, &body(json!([{"Name": "nofiles", "Soft": 1, "Hard": 1}])), &["invalid ulimit type: nofiles"]);
    assert_refused(&d, &body(json!([{"Name": "nofile", "Soft": 10, "Hard": 5}])), &["soft limit"]);
    // Above the daemon's own hard limit, without CAP_SYS_RESOURCE to raise it: a 400, not a
    // silently lower limit.
    let (_, hard) = limit(&std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap(), "Max open files");
    if !has_sys_resource(d.pid() as u32) {
        let above = hard.parse::<i64>().unwrap() + 1;
        assert_refused(
            &d,
            &body(json!([{"Name": "nofile", "Soft": 1024, "Hard": above}])),
            &["nofile", "CAP_SYS_RESOURCE", &hard],
        );
    }
}

#[test]
fn oom_score_shm_reservation_and_resolver_options() {
    let d = daemon("sec-oomshm");
    assert_eq!(run(&d, &["--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj"]), "500");
    assert_refused(
        &d,
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"OomScoreAdj": 1001}}),
        &["range for oom score adj"],
    );
    if !has_sys_resource(d.pid() as u32) {
        assert_refused(
            &d,
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"OomScoreAdj": -500}}),
            &["OomScoreAdj", "CAP_SYS_RESOURCE"],
        );
    }
    let df = |args: &[&str]| -> String {
        let mut a = args.to_vec();
        a.extend(["busybox", "df", "-k", "/dev/shm"]);
        run(&d, &a).lines().nth(1).unwrap_or_default().split_whitespace().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(df(&[]), "65536", "Docker's 64 MiB /dev/shm");
    assert_eq!(df(&["--shm-size", "8m"]), "8192");

    d.run_detached(&["--name", "res", "--memory", "64m", "--memory-reservation", "32m", "busybox", "sleep", "1000"]);
    let (mem, v2) = berth_tests::cgroup_dir(d.container_pid("res"), "memory");
    let file = if v2 { "memory.low" } else { "memory.soft_limit_in_bytes" };
    assert_eq!(std::fs::read_to_string(mem.join(file)).unwrap().trim(), "33554432");
    d.docker_ok(&["rm", "-f", "res"]);

    let resolv = run(
        &d,
        &[
            "--dns-search",
            "example.org",
            "--dns-option",
            "ndots:2",
            "--dns",
            "10.0.0.53",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    );
    let lines: Vec<&str> = resolv.lines().collect();
    assert!(
        lines.contains(&"search example.org")
            && lines.contains(&"options ndots:2")
            && lines.contains(&"nameserver 10.0.0.53"),
        "{resolv}"
    );
}
