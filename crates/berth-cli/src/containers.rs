//! Container verbs.

use crate::http::{copy_stream, query, ApiError, Client};
use crate::table;
use clap::Args;
use serde_json::{json, Value};

#[derive(Args)]
pub struct FormatArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show n last created containers
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub(crate) fn err(m: impl Into<String>) -> ApiError {
    ApiError { status: 0, message: m.into() }
}

/// Applies `f` to each name, printing errors Docker's way; exit 1 if any failed.
pub fn each(_c: &Client, names: &[String], mut f: impl FnMut(&str) -> Result<(), ApiError>) -> Result<i32, ApiError> {
    let mut code = 0;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("Error response from daemon: {e}");
            code = 1;
        }
    }
    Ok(code)
}

pub fn version(c: &Client) -> Result<i32, ApiError> {
    println!("Client:\n Version:     {}\n API version: {}", env!("CARGO_PKG_VERSION"), berth_api::API_VERSION);
    let v = c.json("GET", "/version", None)?;
    println!(
        "\nServer: Berth\n Version:     {}\n API version: {} (minimum version {})\n OS/Arch:     {}/{}\n Kernel:      {}",
        v["Version"].as_str().unwrap_or(""),
        v["ApiVersion"].as_str().unwrap_or(""),
        v["MinAPIVersion"].as_str().unwrap_or(""),
        v["Os"].as_str().unwrap_or(""),
        v["Arch"].as_str().unwrap_or(""),
        v["KernelVersion"].as_str().unwrap_or("")
    );
    Ok(0)
}

pub fn info(c: &Client, a: FormatArgs) -> Result<i32, ApiError> {
    let v = c.json("GET", "/info", None)?;
    if let Some(f) = a.format {
        println!("{}", crate::template::render(&f, &v).map_err(err)?);
        return Ok(0);
    }
    for (k, label) in [
        ("Containers", "Containers"),
        ("ContainersRunning", " Running"),
        ("ContainersPaused", " Paused"),
        ("ContainersStopped", " Stopped"),
        ("Images", "Images"),
        ("ServerVersion", "Server Version"),
        ("Driver", "Storage Driver"),
        ("LoggingDriver", "Logging Driver"),
        ("CgroupDriver", "Cgroup Driver"),
        ("CgroupVersion", "Cgroup Version"),
        ("DefaultRuntime", "Default Runtime"),
        ("LiveRestoreEnabled", "Live Restore Enabled"),
        ("KernelVersion", "Kernel Version"),
        ("OperatingSystem", "Operating System"),
        ("NCPU", "CPUs"),
        ("DockerRootDir", "Berth Root Dir"),
        ("Debug", "Debug Mode"),
    ] {
        let val = &v[k];
        println!("{label}: {}", val.as_str().map(String::from).unwrap_or_else(|| val.to_string()));
    }
    println!(
        "Runtimes: {}",
        v["Runtimes"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(" ")).unwrap_or_default()
    );
    for w in v["Warnings"].as_array().cloned().unwrap_or_default() {
        eprintln!("WARNING: {}", w.as_str().unwrap_or(""));
    }
    Ok(0)
}

pub fn start(c: &Client, a: StartArgs) -> Result<i32, ApiError> {
    if a.attach && a.containers.len() == 1 {
        let id = &a.containers[0];
        let raw = c.json("GET", &format!("/containers/{id}/json"), None)?["Config"]["Tty"].as_bool().unwrap_or(false);
        let mut stream =
            c.send("POST", &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"), None, true)?.check()?;
        c.call("POST", &format!("/containers/{id}/start"), None)?;
        let _ = copy_stream(&mut stream, raw, &mut std::io::stdout(), &mut std::io::stderr());
        let v = c.json("GET", &format!("/containers/{id}/json"), None)?;
        return Ok(v["State"]["ExitCode"].as_i64().unwrap_or(0) as i32);
    }
    each(c, &a.containers, |id| {
        c.call("POST", &format!("/containers/{id}/start"), None)?;
        println!("{id}");
        Ok(())
    })
}

pub fn ps(c: &Client, a: PsArgs) -> Result<i32, ApiError> {
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in &a.filter {
        let (k, v) =
            f.split_once('=').ok_or_else(|| err(format!("bad format of filter (expected name=value): {f}")))?;
        filters.entry(k.into()).or_default().push(v.into());
    }
    let mut q = vec![("all", a.all.to_string()), ("filters", serde_json::to_string(&filters).unwrap_or_default())];
    if let Some(n) = a.last {
        q.push(("limit", n.to_string()));
    }
    let v = c.json("GET", &format!("/containers/json{}", query(&q)), None)?;
    let mut rows = Vec::new();
    for ct in v.as_array().cloned().unwrap_or_default() {
        let id = ct["Id"].as_str().unwrap_or("").to_string();
        let short = if a.no_trunc { id.clone() } else { id.chars().take(12).collect() };
        if a.quiet {
            println!("{short}");
            continue;
        }
        let mut cmd = ct["Command"].as_str().unwrap_or("").to_string();
        if !a.no_trunc && cmd.chars().count() > 19 {
            cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
        }
        let ports =
            table::ports(&serde_json::from_value::<Vec<berth_api::Port>>(ct["Ports"].clone()).unwrap_or_default());
        let names: Vec<String> = serde_json::from_value::<Vec<String>>(ct["Names"].clone())
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        let row = json!({
            "ID": short, "Image": ct["Image"], "Command": format!("\"{cmd}\""),
            "CreatedAt": ct["Created"], "RunningFor": table::ago(ct["Created"].as_i64().unwrap_or(0)),
            "Status": ct["Status"], "State": ct["State"], "Ports": ports, "Names": names.join(","), "Labels": ct["Labels"],
        });
        if let Some(f) = &a.format {
            println!("{}", crate::template::render(f, &row).map_err(err)?);
            continue;
        }
        rows.push(vec![
            short,
            ct["Image"].as_str().unwrap_or("").to_string(),
            format!("\"{cmd}\""),
            row["RunningFor"].as_str().unwrap_or("").to_string(),
            ct["Status"].as_str().unwrap_or("").to_string(),
            ports,
            names.join(","),
        ]);
    }
    if !a.quiet && a.format.is_none() {
        table::print(&["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], &rows);
    }
    Ok(0)
}

pub fn inspect(c: &Client, a: InspectArgs, kind: Option<&str>) -> Result<i32, ApiError> {
    let mut all = Vec::new();
    let mut code = 0;
    for n in &a.names {
        let got = match kind {
            Some("image") => c.json("GET", &format!("/images/{n}/json"), None),
            Some(_) => c.json("GET", &format!("/containers/{n}/json"), None),
            None => c
                .json("GET", &format!("/containers/{n}/json"), None)
                .or_else(|_| c.json("GET", &format!("/images/{n}/json"), None)),
        };
        match got {
            Ok(v) => all.push(v),
            Err(e) => {
                let msg = if kind.is_none() && e.status == 404 { format!("No such object: {n}") } else { e.message };
                eprintln!("Error: {msg}");
                code = 1;
            }
        }
    }
    match &a.format {
        Some(f) => {
            for v in &all {
                println!("{}", crate::template::render(f, v).map_err(err)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(all)).unwrap_or_default()),
    }
    Ok(code)
}

/// `--since 10m` or a timestamp, into what the API takes (unix seconds).
fn time_arg(s: &str) -> String {
    let unit = |c: char| match c {
        's' => Some(1.0),
        'm' => Some(60.0),
        'h' => Some(3600.0),
        _ => None,
    };
    if let Some(mult) = s.chars().last().and_then(unit) {
        if let Ok(n) = s[..s.len() - 1].parse::<f64>() {
            let t = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - n * mult;
            return format!("{t:.3}");
        }
    }
    s.to_string()
}

pub fn logs(c: &Client, a: LogsArgs) -> Result<i32, ApiError> {
    let info = c.json("GET", &format!("/containers/{}/json", a.container), None)?;
    let raw = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string()), ("tail", a.tail.clone())];
    if a.follow {
        q.push(("follow", "1".into()));
    }
    if a.timestamps {
        q.push(("timestamps", "1".into()));
    }
    if let Some(s) = &a.since {
        q.push(("since", time_arg(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_arg(u)));
    }
    let mut r = c.send("GET", &format!("/containers/{}/logs{}", a.container, query(&q)), None, false)?.check()?;
    copy_stream(&mut r, raw, &mut std::io::stdout(), &mut std::io::stderr()).map_err(|e| err(e.to_string()))?;
    Ok(0)
}

pub fn stop(c: &Client, id: &str, a: &StopArgs, verb: &str) -> Result<(), ApiError> {
    let mut q = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    c.call("POST", &format!("/containers/{id}/{verb}{}", query(&q)), None)?;
    println!("{id}");
    Ok(())
}

pub fn kill(c: &Client, id: &str, a: &KillArgs) -> Result<(), ApiError> {
    c.call("POST", &format!("/containers/{id}/kill{}", query(&[("signal", a.signal.clone())])), None)?;
    println!("{id}");
    Ok(())
}

pub fn rm(c: &Client, id: &str, a: &RmArgs) -> Result<(), ApiError> {
    c.call(
        "DELETE",
        &format!("/containers/{id}{}", query(&[("force", a.force.to_string()), ("v", a.volumes.to_string())])),
        None,
    )?;
    println!("{id}");
    Ok(())
}

pub fn wait(c: &Client, id: &str) -> Result<(), ApiError> {
    let v = c.json("POST", &format!("/containers/{id}/wait"), None)?;
    println!("{}", v["StatusCode"].as_i64().unwrap_or(-1));
    Ok(())
}

pub fn exec(c: &Client, a: ExecArgs) -> Result<i32, ApiError> {
    let body = json!({
        "AttachStdout": !a.detach, "AttachStderr": !a.detach, "Cmd": a.command, "Env": a.env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(), "User": a.user.clone().unwrap_or_default(),
    });
    let v = c.json("POST", &format!("/containers/{}/exec", a.container), Some(&body))?;
    let eid = v["Id"].as_str().unwrap_or("").to_string();
    if a.detach {
        c.call("POST", &format!("/exec/{eid}/start"), Some(&json!({"Detach": true})))?;
        return Ok(0);
    }
    let b = serde_json::to_vec(&json!({"Detach": false})).expect("json");
    let mut s = c.send("POST", &format!("/exec/{eid}/start"), Some(&b), true)?.check()?;
    copy_stream(&mut s, false, &mut std::io::stdout(), &mut std::io::stderr()).map_err(|e| err(e.to_string()))?;
    let x = c.json("GET", &format!("/exec/{eid}/json"), None)?;
    Ok(x["ExitCode"].as_i64().unwrap_or(0) as i32)
}

/// Berth's own container verbs (`adopt`, `forget`): print the daemon's answer.
pub fn berth_verb(c: &Client, id: &str, verb: &str) -> Result<i32, ApiError> {
    let v = c.json("POST", &format!("/containers/{id}/{verb}"), None)?;
    match &v {
        Value::Null => println!("{id}"),
        Value::Object(o) if o.len() == 1 && o.contains_key("message") => {
            println!("{}", v["message"].as_str().unwrap_or(""))
        }
        Value::String(s) => println!("{s}"),
        _ => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
    }
    Ok(0)
}
