//! The open-file limit ("Real hosts"): under its unit berthd is given `LimitNOFILE=1024:524288`.
//! It raises its own soft limit to the hard one, and the containers it starts get the soft limit
//! it was given, not its raised one; `--ulimit nofile` still sets a container's own.

use berth_tests::{DaemonOpts, TestDaemon};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The soft and hard "Max open files" of a process, from /proc/<pid>/limits.
fn nofile_of(pid: i32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files line");
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

#[test]
fn the_daemon_raises_its_soft_limit_and_containers_keep_the_one_given() {
    // nextest runs each test in a process of its own: this limit is the daemon's alone.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(hard > 1500, "the test needs a hard open-file limit above 1500 (have {hard})");
    setrlimit(Resource::RLIMIT_NOFILE, 1000, hard).unwrap();
    let mut d = TestDaemon::start(DaemonOpts::new("nofile"));
    d.busybox_image();
    let (soft, daemon_hard) = nofile_of(d.pid());
    assert_eq!(soft, hard.to_string(), "berthd's soft limit is raised to its hard one");
    assert_eq!(daemon_hard, hard.to_string());
    let got = d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn"]);
    assert_eq!(got.split_whitespace().collect::<Vec<_>>(), ["1000", &hard.to_string()], "{got}");
    let id = d.run_detached(&["busybox", "sleep", "300"]);
    let exec = d.docker_ok(&["exec", &id, "sh", "-c", "ulimit -Sn"]);
    assert_eq!(exec.trim(), "1000", "an exec process gets the given soft limit too");
    let own =
        d.docker_ok(&["run", "--rm", "--ulimit", "nofile=2048:4096", "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn"]);
    assert_eq!(own.split_whitespace().collect::<Vec<_>>(), ["2048", "4096"], "{own}");
    d.docker_ok(&["rm", "-f", &id]);
}
