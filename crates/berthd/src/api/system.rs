//! `/_ping`, `/version`, `/info`, `/events`.

use super::body::parse_filters;
use super::{ApiError, AppState, API_VERSION, MIN_API_VERSION};
use crate::model::Status;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

pub async fn ping() -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "OK",
    )
        .into_response()
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "Linux".into())
}

pub async fn version() -> Json<serde_json::Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(serde_json::json!({
        "Platform": {"Name": "Berth"},
        "Components": [{"Name": "Engine", "Version": v, "Details": {
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch(),
            "KernelVersion": kernel(), "Experimental": "false", "GitCommit": "", "GoVersion": "n/a (Rust)"}}],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}

/// `SecurityOptions` in dockerd's order: apparmor, seccomp, selinux, userns, rootless,
/// cgroupns, no-new-privileges (Berth applies neither AppArmor nor SELinux).
fn security_options(cfg: &crate::config::Config) -> Vec<String> {
    let mut v = vec![format!("name=seccomp,profile={}", cfg.seccomp_profile.name())];
    if cfg.userns_remap.is_some() {
        v.push("name=userns".into());
    }
    // name=cgroupns (private cgroup namespaces by default) goes here.
    if cfg.no_new_privileges {
        v.push("name=no-new-privileges".into());
    }
    v
}

/// dockerd's warnings about the security settings.
fn security_warnings(cfg: &crate::config::Config) -> Vec<String> {
    let mut v = vec![];
    if cfg.seccomp_profile != crate::seccomp::DaemonSeccomp::Builtin {
        v.push("WARNING: daemon is not using the default seccomp profile".to_string());
    }
    v
}

pub async fn info(State(d): State<AppState>) -> Json<serde_json::Value> {
    let cfg = d.config();
    let all = d.store.all();
    let count = |f: &dyn Fn(Status) -> bool| all.iter().filter(|e| f(e.status())).count();
    let running = count(&|s| matches!(s, Status::Running | Status::Restoring | Status::Orphaned | Status::Restarting));
    let paused = count(&|s| s == Status::Paused);
    let runtimes: serde_json::Map<String, serde_json::Value> =
        d.runtimes().into_iter().map(|(n, p, a)| (n, serde_json::json!({"path": p, "runtimeArgs": a}))).collect();
    let old_driver: Vec<String> =
        all.iter().map(|e| e.snapshot()).flat_map(|c| crate::engine::restore::old_options(&cfg, &c)).collect();
    let orphans: Vec<String> = all
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.state.status == Status::Orphaned)
        .map(|c| format!("container {} is orphaned: {}", c.short_id(), c.state.reason))
        .collect();
    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    Json(serde_json::json!({
        "ID": d.id,
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": all.len() - running - paused,
        "Images": d.images.list().len(),
        "Driver": cfg.storage_driver,
        "DriverStatus": [["Backing Filesystem", "extfs"]],
        "DockerRootDir": cfg.data_root,
        "ExecRoot": cfg.exec_root,
        "LiveRestoreEnabled": cfg.live_restore,
        "Debug": cfg.debug,
        "Labels": cfg.labels,
        "LoggingDriver": cfg.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "DefaultRuntime": cfg.default_runtime,
        "Runtimes": runtimes,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "OSVersion": "",
        "Architecture": std::env::consts::ARCH,
        "KernelVersion": kernel(),
        "Name": hostname,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "MemoryLimit": true,
        "SwapLimit": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
        "SecurityOptions": security_options(&cfg),
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
        "Warnings": security_warnings(&cfg).into_iter().chain(old_driver).chain(orphans).collect::<Vec<_>>(),
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "Containerd": null,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "IndexServerAddress": "https://index.docker.io/v1/",
    }))
}

/// `GET /events`: history from `since` (across restarts), then live events until `until`.
pub async fn events(State(d): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let since = q.get("since").and_then(|s| crate::logs::parse_time(s));
    let until = q.get("until").and_then(|s| crate::logs::parse_time(s));
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let mut rx = d.events.subscribe();
    let past: Vec<_> = if since.is_some() || until.is_some() {
        d.events
            .history()
            .into_iter()
            .filter(|e| since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u))
            .filter(|e| crate::engine::events::matches(e, &filters))
            .collect()
    } else {
        vec![]
    };
    let stream = async_stream(past, move |tx| async move {
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| std::time::Duration::from_nanos((u - now).max(0) as u64));
        let run = async {
            while let Ok(ev) = rx.recv().await {
                if crate::engine::events::matches(&ev, &filters) && tx.send(line(&ev)).await.is_err() {
                    return;
                }
            }
        };
        match deadline {
            Some(t) => {
                let _ = tokio::time::timeout(t, run).await;
            }
            None => run.await,
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], stream).into_response())
}

fn line(ev: &crate::engine::events::Event) -> bytes::Bytes {
    let mut v = serde_json::to_vec(ev).unwrap_or_default();
    v.push(b'\n');
    bytes::Bytes::from(v)
}

/// A streaming body fed by a task: first `past`, then whatever `f` sends.
fn async_stream<F, Fut>(past: Vec<crate::engine::events::Event>, f: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<bytes::Bytes>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    tokio::spawn(async move {
        for e in &past {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        f(tx).await;
    });
    let s = tokio_stream::wrappers::ReceiverStream::new(rx);
    Body::from_stream(futures_util::StreamExt::map(s, Ok::<_, std::io::Error>))
}
