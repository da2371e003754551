//! Clients of a test daemon: the real docker CLI, our `berth` CLI and docker-py, all pointed at the
//! daemon's private socket (never the host's default one).

use crate::cmd::{output_text, run_with_timeout, DEFAULT_CMD_TIMEOUT};
use crate::daemon::TestDaemon;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

impl TestDaemon {
    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A docker CLI command aimed at this daemon, with a private DOCKER_CONFIG; for tests that need
    /// to spawn it themselves (`logs -f`, `wait` in the background).
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(crate::docker_bin());
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        c
    }

    /// Runs the docker CLI (60 s deadline).
    pub fn docker(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.docker_cmd(args), DEFAULT_CMD_TIMEOUT)
    }

    /// Runs the docker CLI with another deadline.
    pub fn docker_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        run_with_timeout(&mut self.docker_cmd(args), timeout)
    }

    /// Runs the docker CLI, asserts success, returns stdout trimmed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        self.expect_ok("docker", args, &o)
    }

    /// Runs the docker CLI, asserts failure, returns stderr.
    pub fn docker_err(&self, args: &[&str]) -> (Option<i32>, String) {
        let o = self.docker(args);
        assert!(!o.status.success(), "docker {args:?} should have failed\n{}", output_text(&o));
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    }

    fn expect_ok(&self, what: &str, args: &[&str], o: &Output) -> String {
        assert!(
            o.status.success(),
            "{what} {args:?} failed\n{}\n--- daemon log tail ---\n{}",
            output_text(o),
            self.log_tail(30)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Our CLI: `berth -H unix://<socket> <args>` (DOCKER_HOST is set too).
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut c = Command::new(crate::berth_bin());
        c.arg("-H").arg(self.host()).args(args).env("DOCKER_HOST", self.host()).env("BERTH_HOST", self.host());
        run_with_timeout(&mut c, DEFAULT_CMD_TIMEOUT)
    }

    /// Our CLI, asserting success; stdout trimmed.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        self.expect_ok("berth", args, &o)
    }

    /// Runs `python3 -c script` with `BERTH_SOCK` (the socket path) and `DOCKER_HOST` set.
    pub fn python(&self, script: &str) -> Output {
        let mut c = Command::new(std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into()));
        c.arg("-c")
            .arg(script)
            .env("BERTH_SOCK", &self.socket)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config);
        run_with_timeout(&mut c, Duration::from_secs(120))
    }

    /// Runs `body` after a prelude that imports docker-py and its error classes and opens `c`, a
    /// `DockerClient` on this daemon; asserts that the script ran to its end; returns its stdout.
    pub fn docker_py(&self, body: &str) -> String {
        const PRELUDE: &str = "import os, time, docker\n\
            from docker.errors import NotFound, APIError, ImageNotFound, ContainerError\n\
            c = docker.DockerClient(base_url=\"unix://\" + os.environ[\"BERTH_SOCK\"], timeout=60)\n";
        let out = self.python_ok(&format!("{PRELUDE}{body}\nprint('PY-OK')\n"));
        assert!(out.lines().any(|l| l == "PY-OK"), "script did not finish: {out}");
        out
    }

    /// Runs a python script, asserting success; stdout trimmed.
    pub fn python_ok(&self, script: &str) -> String {
        let o = self.python(script);
        self.expect_ok("python3", &["-c", "<script>"], &o)
    }

    /// Imports the busybox rootfs as `busybox:latest` (once per daemon); returns the image id.
    pub fn busybox_image(&mut self) -> String {
        if let Some(id) = &self.busybox_id {
            return id.clone();
        }
        let tar = crate::busybox_tar_path();
        let id = self.import_image(&tar, "busybox:latest", &[]);
        self.busybox_id = Some(id.clone());
        id
    }

    /// `docker import [-c change]… <tar> <reference>`; returns the image id the CLI prints.
    pub fn import_image(&self, tar: &Path, reference: &str, changes: &[&str]) -> String {
        let mut args: Vec<String> = Vec::new();
        args.push("import".into());
        for c in changes {
            args.extend(["-c".into(), c.to_string()]);
        }
        args.push(tar.display().to_string());
        args.push(reference.into());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker_ok(&argv)
    }

    /// `docker inspect <what>` parsed, the first element.
    pub fn inspect(&self, what: &str) -> serde_json::Value {
        let out = self.docker_ok(&["inspect", what]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("docker inspect {what}: not JSON ({e}): {out}"));
        v.get(0).cloned().unwrap_or_else(|| panic!("docker inspect {what}: empty array"))
    }

    /// `State.Pid` of a container.
    pub fn container_pid(&self, what: &str) -> i32 {
        let v = self.inspect(what);
        v["State"]["Pid"].as_i64().unwrap_or_else(|| panic!("no State.Pid in {v}")) as i32
    }

    /// `docker run -d <args>`; returns the container id.
    pub fn run_detached(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let id = self.docker_ok(&a);
        assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "run -d printed {id:?}, not an id");
        id
    }
}

/// The parts of `State` that live-restore tests compare across an outage.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub pid: i32,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
}

impl TestDaemon {
    /// `docker inspect` → [`ContainerState`].
    pub fn state(&self, what: &str) -> ContainerState {
        let v = self.inspect(what);
        let s = &v["State"];
        let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
        ContainerState {
            status: text("Status"),
            running: s["Running"].as_bool().unwrap_or(false),
            pid: s["Pid"].as_i64().unwrap_or(0) as i32,
            exit_code: s["ExitCode"].as_i64().unwrap_or(-1),
            started_at: text("StartedAt"),
            finished_at: text("FinishedAt"),
        }
    }

    /// `docker ps [-a] --format '{{.Names}}\t{{.Status}}'` as (name, status) pairs.
    pub fn ps(&self, all: bool) -> Vec<(String, String)> {
        let mut args = vec!["ps", "--no-trunc", "--format", "{{.Names}}\t{{.Status}}"];
        if all {
            args.insert(1, "-a");
        }
        self.docker_ok(&args)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }
}
