//! `docker ps` as users script it (issue 3): -a, -q, -n, --no-trunc, --format and every filter,
//! and the same through docker-py.

use berth_tests::{DaemonOpts, TestDaemon};

fn names(d: &TestDaemon, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "--format", "{{.Names}}"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = d.docker_ok(&a).lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn ps_flags_filters_and_formats() {
    let mut d = TestDaemon::start(DaemonOpts::new("ps-filters"));
    let bb = d.busybox_image();
    let tar = berth_tests::busybox_tar_path();
    d.import_image(&tar, "other:1", &[]);
    d.docker_ok(&["run", "-d", "--name", "p1", "-l", "app=web", "-l", "tier=front", "busybox", "sleep", "1000"]);
    d.docker_ok(&["run", "-d", "--name", "p2", "-l", "app=db", "--network", "none", "other:1", "sleep", "1000"]);
    let _ = d.docker(&["run", "--name", "p3", "busybox", "sh", "-c", "exit 3"]);
    d.docker_ok(&["create", "--name", "p4", "busybox", "true"]);
    assert_eq!(names(&d, &[]), ["p1", "p2"]);
    assert_eq!(names(&d, &["-a"]), ["p1", "p2", "p3", "p4"]);
    assert_eq!(d.docker_ok(&["ps", "-n", "1", "--format", "{{.Names}}"]), "p4", "the last created");
    let q = d.docker_ok(&["ps", "-q"]);
    assert!(q.lines().all(|l| l.len() == 12), "{q}");
    let full = d.docker_ok(&["ps", "-q", "--no-trunc"]);
    assert!(full.lines().all(|l| l.len() == 64), "{full}");
    assert_eq!(names(&d, &["--filter", "label=app=web"]), ["p1"]);
    assert_eq!(names(&d, &["--filter", "label=app"]), ["p1", "p2"]);
    assert_eq!(names(&d, &["-a", "--filter", "status=exited"]), ["p3"]);
    assert_eq!(names(&d, &["-a", "--filter", "status=created"]), ["p4"]);
    assert_eq!(names(&d, &["-a", "--filter", "exited=3"]), ["p3"]);
    assert_eq!(names(&d, &["-a", "--filter", "ancestor=other:1"]), ["p2"]);
    assert_eq!(
        names(&d, &["-a", "--filter", &format!("ancestor={}", &bb[7..19])]),
        ["p1", "p2", "p3", "p4"].iter().filter(|n| **n != "p2").map(|s| s.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(names(&d, &["-a", "--filter", "name=p"]).len(), 4);
    let id1 = d.docker_ok(&["inspect", "-f", "{{.Id}}", "p1"]);
    assert_eq!(names(&d, &["--filter", &format!("id={}", &id1[..8])]), ["p1"]);
    assert_eq!(names(&d, &["-a", "--filter", "before=p3"]), ["p1", "p2"]);
    assert_eq!(names(&d, &["-a", "--filter", "since=p2"]), ["p3", "p4"]);
    assert_eq!(names(&d, &["-a", "--filter", "network=none"]), ["p2"]);
    let (code, err) = d.docker_err(&["ps", "--filter", "status=sleeping"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Invalid filter value"), "{err}");
    let (_, err) = d.docker_err(&["ps", "--filter", "colour=blue"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let table = d.docker_ok(&["ps", "--format", "table {{.Names}}\t{{.Image}}\t{{.Labels}}", "--filter", "name=p1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAMES") && lines[1].starts_with("p1") && lines[1].contains("busybox"), "{table}");
    assert!(lines[1].contains("app=web") && lines[1].contains("tier=front"), "{table}");
    let json = d.docker_ok(&["ps", "--format", "json", "--filter", "name=p2"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Names"], "p2");
    assert_eq!(v["State"], "running");
    // docker-py sees the same.
    let py = d.python_ok(
        "import docker\nc = docker.DockerClient(base_url='unix://' + __import__('os').environ['BERTH_SOCK'])\n\
         print(sorted(x.name for x in c.containers.list(all=True, filters={'label': 'app'})))\n\
         print(sorted(x.name for x in c.containers.list(all=True, filters={'status': 'exited'})))",
    );
    assert_eq!(py, "['p1', 'p2']\n['p3']");
    d.docker_ok(&["rm", "-f", "p1", "p2", "p3", "p4"]);
}

/// Several `label` filters must all hold, for ps, volumes, networks and events alike (docker-compose
/// finds its project's service by project + service + oneoff labels); networks list by label and
/// by `dangling`, and refuse a filter they do not know.
#[test]
fn label_filters_require_every_label() {
    let mut d = TestDaemon::start(DaemonOpts::new("label-and"));
    d.busybox_image();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let a = d.docker_ok(&["create", "--network", "none", "-l", "p=1", "-l", "s=db", "busybox", "true"]);
    d.docker_ok(&["create", "--network", "none", "-l", "p=1", "-l", "s=w", "busybox", "true"]);
    let ps = d.docker_ok(&["ps", "-aq", "--no-trunc", "--filter", "label=p=1", "--filter", "label=s=db"]);
    assert_eq!(ps, a);
    assert_eq!(d.docker_ok(&["ps", "-aq", "--filter", "label=p=1"]).lines().count(), 2);
    assert_eq!(d.docker_ok(&["ps", "-aq", "--filter", "label=p=1", "--filter", "label=nope"]), "");

    d.docker_ok(&["volume", "create", "--label", "p=1", "--label", "s=db", "va"]);
    d.docker_ok(&["volume", "create", "--label", "p=1", "vb"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "label=p=1", "--filter", "label=s=db"]), "va");

    d.docker_ok(&["network", "create", "--label", "p=1", "--label", "s=db", "na"]);
    d.docker_ok(&["network", "create", "--label", "p=1", "nb"]);
    let nets = |f: &[&str]| {
        let mut args = vec!["network", "ls", "--format", "{{.Name}}"];
        for x in f {
            args.extend(["--filter", x]);
        }
        d.docker_ok(&args)
    };
    assert_eq!(nets(&["label=p=1", "label=s=db"]), "na");
    assert_eq!(nets(&["label=p=1"]).lines().count(), 2);
    d.docker_ok(&["create", "--network", "nb", "busybox", "true"]);
    assert_eq!(nets(&["dangling=true"]), "na", "unused and not predefined");
    let (_, err) = d.docker_err(&["network", "ls", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");

    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let evs = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=create",
        "--filter",
        "label=p=1",
        "--filter",
        "label=s=db",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(evs, a, "one create event carries both labels");
}
