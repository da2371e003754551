//! docker-compose (Debian 12's 1.29.2, a real client on docker-py) driving a realistic project on
//! Berth (issue 15, point 2): a database that becomes healthy, a web service that waits for it,
//! a named volume, a user network with an alias, a published port, an env_file, restart policies,
//! `--scale`, `logs -f`, `exec`, `run --rm`, `up` twice, a kill -9 of the daemon in the middle, and
//! `down -v` leaving nothing behind. Exit codes and outcomes are those compose gives on dockerd.

use berth_tests::{output_text, run_with_timeout};
use berth_tests::{wait_until, DaemonOpts, TestDaemon};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const PROJECT: &str = r#"version: "2.4"
services:
  db:
    image: busybox
    stop_grace_period: 1s
    command: ["sh", "-c", "sleep 1; echo ready > /data/ready; touch /tmp/ready; exec sleep 100000"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 200ms
      timeout: 2s
      retries: 50
    networks:
      back:
        aliases: [database]
  web:
    image: busybox
    stop_grace_period: 1s
    command: ["sh", "-c", "mkdir -p /www; echo \"$$GREETING from web\" > /www/index.html; cat /data/ready >> /www/index.html; exec httpd -f -p 8080 -h /www"]
    env_file: web.env
    volumes: ["data:/data:ro"]
    ports: ["127.0.0.1:PORT:8080"]
    depends_on:
      db:
        condition: service_healthy
    restart: always
    networks: [back]
  worker:
    image: busybox
    stop_grace_period: 1s
    command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo tick $$i; sleep 0.2; done"]
    restart: on-failure
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"#;

struct Project {
    dir: PathBuf,
    name: String,
    host: String,
    docker_config: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Project {
    fn new(d: &TestDaemon, port: u16) -> Project {
        Project::with(d, "", &PROJECT.replace("PORT", &port.to_string()))
    }

    fn with(d: &TestDaemon, suffix: &str, yml: &str) -> Project {
        let name = format!("bt{:x}{suffix}", std::process::id());
        let dir = std::env::temp_dir().join(format!("berth-compose-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("docker-compose.yml"), yml).unwrap();
        std::fs::write(dir.join("web.env"), "GREETING=hello-compose\n").unwrap();
        let docker_config = dir.join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        Project { dir, name, host: d.host(), docker_config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker-compose");
        c.arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(&self.dir)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.cmd(args), Duration::from_secs(120))
    }

    /// Runs and requires exit 0; returns stdout and stderr together.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "docker-compose {args:?}: {}", output_text(&o));
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    }

    /// `docker-compose ps` as (container name, state) pairs, sorted.
    fn world(&self) -> Vec<(String, String)> {
        let out = self.ok(&["ps"]);
        let mut rows: Vec<(String, String)> = out
            .lines()
            .filter(|l| l.starts_with(&self.name))
            .map(|l| {
                let name = l.split_whitespace().next().unwrap().to_string();
                let state = if l.contains("Up (healthy)") {
                    "Up (healthy)"
                } else if l.contains("Up") {
                    "Up"
                } else {
                    l.split("   ").filter(|s| !s.trim().is_empty()).nth(2).unwrap_or("?").trim()
                };
                (name, state.to_string())
            })
            .collect();
        rows.sort();
        rows
    }
}

fn get(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("127.0.0.1:{port}").parse().unwrap(), Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The highest `tick N` a worker has logged.
fn last_tick(p: &Project, worker: &str) -> u64 {
    let out = p.ok(&["logs", "--no-color", worker]);
    out.lines().filter_map(|l| l.rsplit("tick ").next()?.trim().parse().ok()).max().unwrap_or(0)
}

fn leftovers(d: &TestDaemon, project: &str) -> (String, String, String) {
    let label = format!("label=com.docker.compose.project={project}");
    (
        d.docker_ok(&["ps", "-aq", "--filter", &label]),
        d.docker_ok(&["network", "ls", "-q", "--filter", &label]),
        d.docker_ok(&["volume", "ls", "-q", "--filter", &label]),
    )
}

#[test]
fn a_compose_project_lives_through_up_twice_a_kill9_and_down() {
    let mut d = TestDaemon::start(DaemonOpts::new("compose").live_restore(true));
    d.busybox_image();
    let port = free_port();
    let p = Project::new(&d, port);
    let n = p.name.clone();

    // up: web waits for db to be healthy, so the volume already holds db's file when web starts.
    p.ok(&["up", "-d", "--scale", "worker=2"]);
    let page = get(port).unwrap_or_default();
    assert!(page.contains("hello-compose from web") && page.contains("ready"), "{page}");
    let world = p.world();
    let names: Vec<&str> = world.iter().map(|(n, _)| n.as_str()).collect();
    let want = [format!("{n}_db_1"), format!("{n}_web_1"), format!("{n}_worker_1"), format!("{n}_worker_2")];
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>(), "{world:?}");
    assert_eq!(world[0].1, "Up (healthy)", "{world:?}");
    assert!(world[1..].iter().all(|(_, s)| s == "Up"), "{world:?}");

    // A second up of the unchanged project recreates nothing.
    let again = p.ok(&["up", "-d", "--scale", "worker=2"]);
    assert!(!again.contains("Recreating") && !again.contains("Creating"), "{again}");
    assert_eq!(again.matches("is up-to-date").count(), 4, "{again}");

    // exec, with the env_file's variable, the alias on the user network, and --index.
    assert_eq!(p.ok(&["exec", "-T", "web", "sh", "-c", "echo $GREETING"]).trim(), "hello-compose");
    p.ok(&["exec", "-T", "web", "ping", "-c", "1", "-W", "2", "database"]);
    p.ok(&["exec", "-T", "web", "ping", "-c", "1", "-W", "2", "db"]);
    let hostname = p.ok(&["exec", "-T", "--index=2", "worker", "hostname"]);
    let id2 = d.inspect(&format!("{n}_worker_2"))["Id"].as_str().unwrap().to_string();
    assert_eq!(hostname.trim(), &id2[..12]);
    let failed = p.run(&["exec", "-T", "web", "sh", "-c", "exit 5"]);
    assert_eq!(failed.status.code(), Some(5), "{}", output_text(&failed));

    // run --rm: the one-off's output and exit code, and no container left.
    let hi = p.run(&["run", "--rm", "-T", "worker", "echo", "hi"]);
    assert!(hi.status.success(), "{}", output_text(&hi));
    assert_eq!(String::from_utf8_lossy(&hi.stdout).trim(), "hi", "{}", output_text(&hi));
    // Without the docker CLI compose attaches (one socket per stream, stdin's among them) only
    // after the start: a quick command's output still arrives, once (dockerd 5 of 5 here).
    for _ in 0..3 {
        let mut c = p.cmd(&["run", "--rm", "-T", "worker", "echo", "hi"]);
        c.env("COMPOSE_INTERACTIVE_NO_CLI", "1");
        let hi = run_with_timeout(&mut c, Duration::from_secs(120));
        assert!(hi.status.success(), "{}", output_text(&hi));
        assert_eq!(String::from_utf8_lossy(&hi.stdout), "hi\n", "{}", output_text(&hi));
    }
    let three = p.run(&["run", "--rm", "-T", "worker", "sh", "-c", "exit 3"]);
    assert_eq!(three.status.code(), Some(3), "{}", output_text(&three));
    assert_eq!(leftovers(&d, &n).0.lines().count(), 4, "only the project's four containers");

    // logs -f follows both workers.
    let mut follow = p.cmd(&["logs", "-f", "--no-color", "--tail=1", "worker"]).stdout(Stdio::piped()).spawn().unwrap();
    let out = follow.stdout.take().unwrap();
    let reader =
        std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).take(12).collect::<Vec<String>>());
    let lines = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !reader.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = follow.kill();
        let _ = follow.wait();
        reader.join().unwrap()
    };
    assert_eq!(lines.len(), 12, "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("worker_1  | tick")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("worker_2  | tick")), "{lines:?}");

    // kill -9 of the daemon: the project does not notice; compose sees the same world after.
    let before = p.world();
    let ticks = last_tick(&p, "worker");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    assert!(
        get(port).is_some_and(|g| g.contains("hello-compose")),
        "the published port answers while the daemon is down"
    );
    std::thread::sleep(Duration::from_millis(600));
    d.restart();
    assert_eq!(p.world(), before);
    assert!(wait_until(Duration::from_secs(5), || last_tick(&p, "worker") > ticks + 2), "the workers kept logging");
    let again = p.ok(&["up", "-d", "--scale", "worker=2"]);
    assert_eq!(again.matches("is up-to-date").count(), 4, "nothing recreated after the restart: {again}");

    // down -v: containers, network and volume gone.
    p.ok(&["down", "-v"]);
    assert_eq!(leftovers(&d, &n), (String::new(), String::new(), String::new()));
    assert!(get(port).is_none(), "the port is released");
}

const BUILD_PROJECT: &str = r#"version: "2.4"
services:
  app:
    build:
      context: ./app
      args:
        WHO: compose
    command: ["cat", "/greeting"]
"#;

/// A service with a `build:` section: `docker-compose build` goes through `POST /build`
/// (compose 1.29 uses docker-py's build), `up` runs the built image, a second build is all
/// cache, and `down --rmi local` removes the image it built.
#[test]
fn compose_builds_a_service_and_runs_it() {
    let mut d = TestDaemon::start(DaemonOpts::new("compose-build"));
    d.busybox_image();
    let p = Project::with(&d, "b", BUILD_PROJECT);
    std::fs::create_dir_all(p.dir.join("app")).unwrap();
    std::fs::write(p.dir.join("app/Dockerfile"), "FROM busybox\nARG WHO\nRUN echo \"hello $WHO\" > /greeting\n")
        .unwrap();
    let out = p.ok(&["build"]);
    assert!(out.contains("Successfully built") && out.contains("Successfully tagged"), "{out}");
    let image = format!("{}_app", p.name);
    assert!(d.docker(&["image", "inspect", &image]).status.success(), "compose tagged {image}: {out}");
    let up = p.ok(&["up", "--no-color"]);
    assert!(up.contains("hello compose"), "{up}");
    let again = p.ok(&["build"]);
    assert_eq!(again.matches("Using cache").count(), 2, "{again}");
    p.ok(&["down", "--rmi", "local"]);
    assert!(!d.docker(&["image", "inspect", &image]).status.success(), "down --rmi local removed {image}");
}
