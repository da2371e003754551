//! `run` and `create`: the create body from Docker's flags, and the foreground run.

use crate::containers::err;
use crate::http::{copy_stream, query, ApiError, Client};
use berth_api::{ContainerConfig, ContainerCreateRequest, HostConfig, LogConfig, PortBinding, RestartPolicy};
use clap::Args;
use std::collections::BTreeMap;

#[derive(Args, Clone)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network (none, host, bridge)
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Bind mount a volume (/host:/ctr[:ro])
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's RAM units: b, k, m, g (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<i64, ApiError> {
    let l = s.trim().to_ascii_lowercase();
    let l = l.strip_suffix('b').filter(|r| !r.is_empty() && r.ends_with(['k', 'm', 'g'])).unwrap_or(&l);
    let (num, mult) = match l.chars().last() {
        Some('k') => (&l[..l.len() - 1], 1i64 << 10),
        Some('m') => (&l[..l.len() - 1], 1 << 20),
        Some('g') => (&l[..l.len() - 1], 1 << 30),
        Some('b') => (&l[..l.len() - 1], 1),
        _ => (l, 1),
    };
    let v: f64 = num.parse().map_err(|_| err(format!("invalid size: '{s}'")))?;
    if v < 0.0 {
        return Err(err(format!("invalid size: '{s}'")));
    }
    Ok((v * mult as f64) as i64)
}

fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(r: &str) -> Result<RestartPolicy, ApiError> {
    let (name, n) = r.split_once(':').unwrap_or((r, ""));
    if !["no", "always", "unless-stopped", "on-failure", ""].contains(&name) {
        return Err(err(format!("invalid restart policy '{name}'")));
    }
    let maximum_retry_count =
        if n.is_empty() { 0 } else { n.parse().map_err(|_| err(format!("invalid restart policy format: {r}")))? };
    if maximum_retry_count != 0 && name != "on-failure" {
        return Err(err(format!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure': {r}"
        )));
    }
    Ok(RestartPolicy { name: name.into(), maximum_retry_count })
}

/// `-p [ip:][hostPort:]containerPort[/proto]` into ("80/tcp", binding).
pub fn parse_publish(p: &str) -> Result<(String, PortBinding), ApiError> {
    let (spec, proto) = p.rsplit_once('/').unwrap_or((p, "tcp"));
    // An IPv6 host address comes in brackets: [::1]:8080:80.
    let (ip, rest) = match spec.strip_prefix('[').and_then(|s| s.split_once("]:")) {
        Some((ip, rest)) => (ip.to_string(), rest.to_string()),
        None => (String::new(), spec.to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, host_port, ctr) = match (ip.is_empty(), parts.as_slice()) {
        (true, [c]) => (String::new(), String::new(), *c),
        (true, [h, c]) => (String::new(), h.to_string(), *c),
        (true, [i, h, c]) => (i.to_string(), h.to_string(), *c),
        (false, [h, c]) => (ip.clone(), h.to_string(), *c),
        _ => return Err(err(format!("invalid port format: {p}"))),
    };
    if ctr.is_empty() || !ctr.split('-').all(|x| x.parse::<u16>().is_ok()) {
        return Err(err(format!("invalid containerPort: {ctr}")));
    }
    if !host_port.is_empty() && !host_port.split('-').all(|x| x.parse::<u16>().is_ok()) {
        return Err(err(format!("invalid hostPort: {host_port}")));
    }
    Ok((format!("{ctr}/{proto}"), PortBinding { host_ip, host_port }))
}

/// The `POST /containers/create` body for the flags, shaped as the docker CLI sends it.
pub fn create_body(a: &RunArgs) -> Result<ContainerCreateRequest, ApiError> {
    let mut host = HostConfig {
        auto_remove: a.rm,
        network_mode: a.network.clone().unwrap_or_else(|| "default".into()),
        readonly_rootfs: a.read_only,
        binds: (!a.volumes.is_empty()).then(|| a.volumes.clone()),
        runtime: a.runtime.clone().unwrap_or_default(),
        log_config: LogConfig { type_: a.log_driver.clone().unwrap_or_default(), config: kv_map(&a.log_opts) },
        init: a.init.then_some(true),
        restart_policy: RestartPolicy { name: "no".into(), maximum_retry_count: 0 },
        ..Default::default()
    };
    if let Some(m) = &a.memory {
        host.resources.memory = parse_bytes(m)?;
    }
    if let Some(c) = a.cpus {
        // NaN too is refused.
        if c.is_nan() || c < 0.0 {
            return Err(err(format!("invalid argument \"{c}\" for \"--cpus\" flag")));
        }
        host.resources.nano_cpus = (c * 1e9).round() as i64;
    }
    host.resources.pids_limit = a.pids_limit;
    if let Some(r) = &a.restart {
        host.restart_policy = parse_restart(r)?;
    }
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in &a.publish {
        let (port, b) = parse_publish(p)?;
        exposed.insert(port.clone(), serde_json::json!({}));
        bindings.entry(port).or_default().get_or_insert_with(Vec::new).push(b);
    }
    for e in &a.expose {
        let port = if e.contains('/') { e.clone() } else { format!("{e}/tcp") };
        exposed.insert(port, serde_json::json!({}));
    }
    host.port_bindings = Some(bindings);
    let config = ContainerConfig {
        image: a.image.clone(),
        env: Some(a.env.clone()),
        labels: Some(kv_map(&a.labels)),
        cmd: (!a.command.is_empty()).then(|| a.command.clone()),
        // `--entrypoint ""` resets the image's entrypoint: docker sends [""] then.
        entrypoint: a.entrypoint.as_ref().map(|e| vec![e.clone()]),
        working_dir: a.workdir.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        tty: a.tty,
        open_stdin: a.interactive,
        stdin_once: a.interactive && !a.detach,
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        volumes: Some(BTreeMap::new()),
        ..Default::default()
    };
    Ok(ContainerCreateRequest {
        config,
        host_config: Some(host),
        networking_config: Some(Default::default()),
        runtime: None,
    })
}

/// `run` (start = true) and `create`. Exit codes as docker's: 125 for daemon errors, the
/// container's own code for a foreground run.
pub fn run(c: &Client, a: RunArgs, start: bool) -> Result<i32, ApiError> {
    let body = match create_body(&a) {
        Ok(b) => serde_json::to_value(&b).expect("json"),
        Err(e) => {
            eprintln!("berth: {e}");
            return Ok(125);
        }
    };
    let q = a.name.as_ref().map(|n| query(&[("name", n.clone())])).unwrap_or_default();
    let created = match c.json("POST", &format!("/containers/create{q}"), Some(&body)) {
        Ok(v) => v,
        Err(e) => {
            if e.status == 404 && e.message.contains("No such image") {
                eprintln!("Unable to find image '{}' locally", a.image);
            }
            report(&e);
            return Ok(125);
        }
    };
    let created: berth_api::ContainerCreateResponse = serde_json::from_value(created).unwrap_or_default();
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    let id = created.id;
    if !start {
        println!("{id}");
        return Ok(0);
    }
    if a.detach {
        if let Err(e) = c.call("POST", &format!("/containers/{id}/start"), None) {
            report(&e);
            return Ok(start_failure_code(&e.message));
        }
        println!("{id}");
        return Ok(0);
    }
    // Foreground: attach first, then ask for the exit, then start — as docker does, so no
    // output and no exit can be missed.
    let stdin = if a.interactive { "&stdin=1" } else { "" };
    let attached = c
        .send("POST", &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1{stdin}"), None, true)
        .and_then(|r| r.check());
    let mut stream = match attached {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(125);
        }
    };
    let cond = if a.rm { "removed" } else { "next-exit" };
    let mut waiter =
        match c.send("POST", &format!("/containers/{id}/wait?condition={cond}"), None, false).and_then(|r| r.check()) {
            Ok(w) => w,
            Err(e) => {
                report(&e);
                return Ok(125);
            }
        };
    if let Err(e) = c.call("POST", &format!("/containers/{id}/start"), None) {
        report(&e);
        return Ok(start_failure_code(&e.message));
    }
    if a.interactive {
        if let Ok(mut sock) = stream.socket() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut sock);
                // EOF on our stdin is EOF on the container's.
                let _ = sock.shutdown(std::net::Shutdown::Write);
            });
        }
    }
    // A tty container's stream is raw; otherwise it is multiplexed (we know which, as docker does).
    let raw = a.tty;
    let reader = std::thread::spawn(move || {
        let _ = copy_stream(&mut stream, raw, &mut std::io::stdout(), &mut std::io::stderr());
    });
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut waiter, &mut out);
    let _ = reader.join();
    let w: berth_api::ContainerWaitResponse = match serde_json::from_slice(&out) {
        Ok(w) => w,
        Err(_) => return Ok(125),
    };
    if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
        eprintln!("berth: Error response from daemon: {}", e.message);
        return Ok(125);
    }
    Ok(w.status_code as i32)
}

fn report(e: &ApiError) {
    if e.status == 0 {
        eprintln!("berth: {e}");
    } else {
        eprintln!("berth: Error response from daemon: {e}");
    }
}

/// docker's codes when the command cannot run: 127 not found, 126 not executable.
fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("not found") || msg.contains("no such file") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

#[cfg(test)]
mod tests;
