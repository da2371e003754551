//! `/_ping`, `/version`, `/info`, `/events`.

use super::body::parse_filters;
use super::{ApiError, AppState, API_VERSION, MIN_API_VERSION};
use crate::model::Status;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{EventActor, EventMessage, Info, PluginsInfo, RegistryServiceConfig, RuntimeInfo, Version};
use std::collections::HashMap;

pub async fn ping() -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            // The classic builder: the docker CLI then builds through `POST /build` itself.
            (header::HeaderName::from_static("builder-version"), "1"),
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

pub async fn version() -> Json<Version> {
    let v = env!("CARGO_PKG_VERSION");
    let details = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", "linux"),
        ("Arch", arch()),
        ("KernelVersion", &kernel()),
        ("Experimental", "false"),
        ("GitCommit", ""),
        ("GoVersion", "n/a (Rust)"),
    ];
    Json(Version {
        platform: berth_api::PlatformName { name: "Berth".into() },
        components: Some(vec![berth_api::ComponentVersion {
            name: "Engine".into(),
            version: v.into(),
            details: Some(details.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        }]),
        version: v.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: String::new(),
        go_version: "n/a (Rust)".into(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel(),
        experimental: false,
        // Go's `omitempty`: absent, as dockerd sends it when unknown.
        build_time: String::new(),
    })
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

pub async fn info(State(d): State<AppState>) -> Json<Info> {
    let cfg = d.config();
    let all = d.store.all();
    let count = |f: &dyn Fn(Status) -> bool| all.iter().filter(|e| f(e.status())).count();
    let running = count(&|s| matches!(s, Status::Running | Status::Restoring | Status::Orphaned | Status::Restarting));
    let paused = count(&|s| s == Status::Paused);
    let runtimes = d
        .runtimes()
        .into_iter()
        .map(|(n, p, a)| {
            // Go's `omitempty`: no `runtimeArgs` when there are none.
            let args = (!a.is_empty()).then_some(a);
            (n, RuntimeInfo { path: p.to_string_lossy().into_owned(), runtime_args: args, status: None })
        })
        .collect();
    let old_driver: Vec<String> =
        all.iter().map(|e| e.snapshot()).flat_map(|c| crate::engine::restore::old_options(&cfg, &c)).collect();
    let orphans: Vec<String> = all
        .iter()
        .map(|e| e.snapshot())
        .filter(|c| c.state.status == Status::Orphaned)
        .map(|c| format!("container {} is orphaned: {}", c.short_id(), c.state.reason))
        .collect();
    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
    let nfd = std::fs::read_dir("/proc/self/fd").map(|r| r.count() as i64).unwrap_or(0);
    Json(Info {
        id: d.id.clone(),
        containers: all.len() as i64,
        containers_running: running as i64,
        containers_paused: paused as i64,
        containers_stopped: (all.len() - running - paused) as i64,
        images: d.images.list().len() as i64,
        driver: cfg.storage_driver.clone(),
        driver_status: Some(vec![["Backing Filesystem".into(), "extfs".into()]]),
        docker_root_dir: cfg.data_root.to_string_lossy().into_owned(),
        exec_root: cfg.exec_root.to_string_lossy().into_owned(),
        live_restore_enabled: cfg.live_restore,
        debug: cfg.debug,
        labels: cfg.labels.clone(),
        logging_driver: cfg.log_driver.clone(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: cgroup_version().into(),
        default_runtime: cfg.default_runtime.clone(),
        runtimes,
        ncpu: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as i64,
        mem_total: mem_total() as i64,
        operating_system: os_name(),
        os_type: "linux".into(),
        os_version: String::new(),
        architecture: std::env::consts::ARCH.into(),
        kernel_version: kernel(),
        name: hostname,
        server_version: env!("CARGO_PKG_VERSION").into(),
        memory_limit: true,
        swap_limit: false,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        // cgroupctl writes cpu.shares (v1) or cpu.weight (v2) for `--cpu-shares`.
        cpu_shares: true,
        pids_limit: true,
        ipv4_forwarding: true,
        nfd,
        plugins: PluginsInfo {
            volume: names(&["local"]),
            network: names(&["bridge", "host", "none"]),
            authorization: None,
            log: names(&["json-file"]),
        },
        security_options: security_options(&cfg),
        swarm: berth_api::SwarmInfo::default(),
        registry_config: Some(RegistryServiceConfig {
            index_configs: Some(Default::default()),
            insecure_registry_cidrs: names(&["127.0.0.0/8"]),
            mirrors: Some(vec![]),
        }),
        warnings: security_warnings(&cfg).into_iter().chain(old_driver).chain(orphans).collect(),
        system_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        index_server_address: "https://index.docker.io/v1/".into(),
        ..Default::default()
    })
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

fn message(ev: &crate::engine::events::Event) -> EventMessage {
    EventMessage {
        status: ev.status.clone(),
        id: ev.id.clone(),
        from: ev.from.clone(),
        type_: ev.kind.clone(),
        action: ev.action.clone(),
        actor: EventActor { id: ev.actor.id.clone(), attributes: ev.actor.attributes.clone() },
        scope: ev.scope.clone(),
        time: ev.time,
        time_nano: ev.time_nano,
    }
}

fn line(ev: &crate::engine::events::Event) -> bytes::Bytes {
    let mut v = serde_json::to_vec(&message(ev)).unwrap_or_default();
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
