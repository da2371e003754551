//! berthd: the Berth daemon.
#![deny(unsafe_code)]
#![recursion_limit = "256"]

mod api;
mod cgroupctl;
mod cgroups;
mod cgroupstats;
mod config;
mod drain;
mod engine;
mod listen;
mod logs;
mod model;
mod monitor;
mod notify;
mod oci;
mod perms;
mod rootfs;
mod sealed_runtime;
mod seccomp;
mod tls;

use anyhow::Context;
use clap::Parser;
use engine::{daemon, restore, shutdown, userns};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use tracing_subscriber::{reload, EnvFilter};

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

fn filter_for(debug: bool) -> EnvFilter {
    EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new(if debug { "debug" } else { "info" }))
}

fn main() {
    // Docker's umask, whatever the caller's, set while the process is still single-threaded:
    // files that must be private get their mode explicitly, and everything else (a container's
    // /etc/hosts, extracted image files, the container's own umask) comes out as under dockerd.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // What systemd hands the daemon through its environment is taken, and the variables removed,
    // before any thread exists (the environment is not thread-safe to change) and so before any
    // child: a monitor, runtime or container inheriting NOTIFY_SOCKET could speak for berthd, and
    // one inheriting LISTEN_* would think it was handed sockets.
    notify::init();
    let passed = berth_sys::activation::take_listen_fds();
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    let passed = match passed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berthd: the sockets passed by the service manager (LISTEN_FDS): {e}");
            std::process::exit(1);
        }
    };
    let flags = config::Flags::parse();
    let cfg = match config::load(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            std::process::exit(1);
        }
    };
    use tracing_subscriber::prelude::*;
    let (filter, handle) = reload::Layer::new(filter_for(cfg.debug));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(flags, cfg, handle, passed)) {
        tracing::error!("{e:#}");
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

/// Holds the pid file and data-root locks for the daemon's lifetime.
struct Locks {
    _pid: nix::fcntl::Flock<std::fs::File>,
    _data: nix::fcntl::Flock<std::fs::File>,
}

fn take_lock(path: &Path, what: &str, mode: u32) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(f, _)| {
        let holder = std::fs::read_to_string(path).unwrap_or_default();
        drop(f);
        anyhow::anyhow!(
            "another berthd (pid {}) is already running with this {what}: {} is locked",
            holder.trim(),
            path.display()
        )
    })
}

fn lock(cfg: &config::Config) -> anyhow::Result<Locks> {
    use std::io::Write;
    // The pid file is world-readable as dockerd's; the data-root's lock is not.
    let pid = take_lock(&cfg.pidfile, "pid file", 0o644)?;
    let data = take_lock(&cfg.data_root.join("berthd.lock"), "data-root", 0o600)?;
    for l in [&pid, &data] {
        let mut f: &std::fs::File = l;
        f.set_len(0)?;
        write!(f, "{}", std::process::id())?;
    }
    Ok(Locks { _pid: pid, _data: data })
}

async fn run(
    flags: config::Flags,
    mut cfg: config::Config,
    filter: FilterHandle,
    passed: Vec<(std::os::fd::OwnedFd, String)>,
) -> anyhow::Result<()> {
    // Read before anything is touched: a bad file stops the start, naming it and its key.
    let tls = cfg.tls.as_ref().map(tls::server_config).transpose()?;
    if tls.is_some() && cfg.listeners.iter().all(|l| l.tcp.is_none()) {
        tracing::warn!("--tlsverify is set but no tcp:// host is: TLS applies to tcp:// hosts only");
    }
    let hosts = listen::adopt_passed(&cfg.listeners, passed).map_err(anyhow::Error::msg)?;
    cfg.listeners = hosts.iter().map(|(s, _)| s.clone()).collect();
    let gids = listen::resolve_groups(&cfg.listeners, cfg.group.as_deref()).map_err(anyhow::Error::msg)?;
    // The modes are set once the locks are held: a second daemon started by mistake on the same
    // roots must not change the first one's (its exec-root's mode depends on where its sockets are).
    let remap_gid = cfg.userns_remap.as_ref().map(|r| r.maps.root().1);
    if let Some(r) = &cfg.userns_remap {
        let (uid, gid) = r.maps.root();
        berth_proto::fsutil::set_remapped_root(uid, gid);
    }
    berth_proto::fsutil::create_dir_mode(&cfg.data_root_top, berth_proto::fsutil::modes::DATA_ROOT)?;
    berth_proto::fsutil::create_dir_mode(&cfg.data_root, berth_proto::fsutil::modes::DATA_ROOT)?;
    let _locks = lock(&cfg)?;
    let socket_in_exec_root = cfg.listeners.iter().any(|l| l.path.starts_with(&cfg.exec_root));
    let older_modes =
        perms::secure_roots(&cfg.data_root_top, &cfg.data_root, &cfg.exec_root, socket_in_exec_root, remap_gid)
            .with_context(|| {
                format!("setting the modes of {} and {}", cfg.data_root.display(), cfg.exec_root.display())
            })?;
    userns::check_ancestors(&cfg).map_err(anyhow::Error::msg)?;
    let listeners = listen::bind_all(hosts, &gids)?;
    // A passed socket's file is systemd's: removing it at exit would leave the socket unit
    // listening on a name no client can reach any more.
    let sockets: Vec<std::path::PathBuf> =
        listeners.iter().filter(|(s, _)| s.passed.is_none() && s.tcp.is_none()).map(|(s, _)| s.path.clone()).collect();
    let socket = cfg.socket_path();
    let d = Arc::new(daemon::Daemon::new(cfg.clone())?);
    if older_modes {
        perms::tighten_below_in_background(cfg.data_root.clone());
        if cfg.data_root_top != cfg.data_root {
            perms::tighten_below_in_background(cfg.data_root_top.clone());
        }
    }
    tracing::info!(
        socket = %socket.display(),
        data_root = %cfg.data_root.display(),
        live_restore = cfg.live_restore,
        userns_remap = cfg.userns_remap.as_ref().map(|r| format!("{}:{}", r.user, r.group)),
        storage_driver = %cfg.storage_driver,
        containers = d.store.len(),
        load_ms = d.booted.elapsed().map_or(0, |t| t.as_millis()),
        "berthd {} listening",
        env!("CARGO_PKG_VERSION")
    );
    // The API answers before restore finishes (invariant 6): restore runs beside the server.
    let restoring = d.store.all().iter().filter(|e| e.status().is_live()).count();
    let restore = tokio::spawn(restore::restore_all(d.clone()));
    let settled = d.clone();
    tokio::spawn(async move {
        let _ = restore.await;
        notify::status(&notify::settled_status(&settled));
    });
    let gate = drain::Gate::default();
    let mut stopped = tokio::spawn(signals(d.clone(), flags, filter));
    let mut servers = tokio::task::JoinSet::new();
    for (spec, listener) in listeners {
        if spec.role != api::roles::Role::Full || spec.passed.is_some() || spec.tcp.is_some() {
            let from = match (&spec.passed, spec.tcp) {
                (Some(_), _) => "passed by the service manager",
                (None, Some(_)) => "bound, mutual TLS",
                (None, None) => "bound",
            };
            tracing::info!(socket = %spec.describe(), role = spec.role.name(), from, "API socket");
        }
        // The version prefix is stripped before routing: the middleware wraps the whole router
        // (a router's own layers, the role's check among them, run after a route is chosen).
        let app =
            tower::Layer::layer(&axum::middleware::from_fn(api::version_prefix), api::router(d.clone(), spec.role));
        let listener = gate.listener(listener, tls.clone())?;
        servers.spawn(async move {
            let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                api::attach::ConnFd,
            >(app);
            axum::serve(listener, app).await
        });
    }
    // Every socket is listening and its server task spawned: a client connecting from now on is
    // answered. Restore goes on beside (invariant 6), so systemd does not wait for it.
    let status = match restoring {
        0 => notify::settled_status(&d),
        n => format!("restoring {n} containers"),
    };
    notify::send(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]);
    tokio::select! {
        ended = servers.join_next() => {
            if let Some(ended) = ended {
                ended??;
            }
            return Ok(());
        }
        _ = &mut stopped => {}
    }
    // The containers are settled (stopped, or left running with live restore): stop accepting,
    // and let the requests in flight finish (`drain`). On a passed socket, connections made from
    // now on wait in its backlog for the next daemon instead of being refused.
    let open = gate.close(std::time::Duration::from_secs(2)).await;
    if open > 0 {
        tracing::info!("{open} API connections still open after 2 s at exit: closing them");
    }
    for socket in &sockets {
        let _ = std::fs::remove_file(socket);
    }
    let _ = std::fs::remove_file(&d.config().pidfile);
    std::process::exit(0);
}

/// Serves SIGHUP until SIGTERM or SIGINT, then shuts the engine down and returns.
async fn signals(d: Arc<daemon::Daemon>, flags: config::Flags, filter: FilterHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                notify::reloading();
                let status = match reload(&d, &flags, &filter) {
                    Ok(()) => notify::settled_status(&d),
                    Err(e) => format!("reload failed, running configuration kept: {e}"),
                };
                notify::send(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]);
            }
        }
    }
    let live: Vec<_> = d.store.all().into_iter().filter(|e| e.status().is_live()).collect();
    let cfg = d.config();
    if cfg.live_restore {
        let status = format!("stopping: live restore on, {} containers keep running", live.len());
        notify::send(&[sd_notify::NotifyState::Stopping, sd_notify::NotifyState::Status(&status)]);
    } else {
        let status = format!("stopping: stopping {} containers (live restore off)", live.len());
        // Containers with long stop timeouts must not be SIGKILLed by systemd's TimeoutStopSec
        // before their own timeout: the stop may take up to the shutdown bound, then a kill and
        // the clean-up (EXTEND_TIMEOUT_USEC only ever lengthens the unit's timeout).
        let budget = shutdown::stop_bound(&cfg, &live) + std::time::Duration::from_secs(30);
        let usec = u32::try_from(budget.as_micros()).unwrap_or(u32::MAX);
        notify::send(&[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status(&status),
            sd_notify::NotifyState::ExtendTimeoutUsec(usec),
        ]);
    }
    shutdown::shutdown(d.clone()).await;
}

/// SIGHUP: re-read daemon.json; apply what can change live; keep the running config on error
/// (returned, for `systemctl status`).
fn reload(d: &daemon::Daemon, flags: &config::Flags, filter: &FilterHandle) -> Result<(), String> {
    let cur = d.config();
    let new = config::read_file(&cur.config_file, flags.config_file.is_some()).and_then(|f| config::merge(flags, &f));
    let new = match new {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("configuration reload failed, keeping the running configuration: {e}");
            return Err(e.to_string());
        }
    };
    let outcome = {
        let mut c = d.config.write().expect("config lock");
        config::apply_reload(&mut c, &new)
    };
    for a in &outcome.applied {
        tracing::info!("configuration reloaded: {a}");
    }
    for k in &outcome.needs_restart {
        tracing::warn!(
            "configuration key \"{k}\" changed in {}: it takes effect after a restart",
            cur.config_file.display()
        );
    }
    if outcome.applied.is_empty() && outcome.needs_restart.is_empty() {
        tracing::info!("configuration reloaded: nothing changed");
    }
    let _ = filter.modify(|f| *f = filter_for(d.config().debug));
    let c = d.config();
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("live-restore".to_string(), c.live_restore.to_string());
    attrs.insert("debug".to_string(), c.debug.to_string());
    attrs.insert("shutdown-timeout".to_string(), c.shutdown_timeout.to_string());
    attrs.insert("labels".to_string(), format!("[{}]", c.labels.join(" ")));
    attrs.insert("default-runtime".to_string(), c.default_runtime.clone());
    d.events.emit("daemon", "reload", &d.id, attrs);
    Ok(())
}
