//! The service manager's notification socket (sd_notify(3)): READY, RELOADING, STOPPING and the
//! STATUS line `systemctl status` shows. Everything here is a no-op when berthd was not started
//! with `NOTIFY_SOCKET` (not under systemd, or not `Type=notify`).
//!
//! The socket's address is read once, at start, and `NOTIFY_SOCKET` is then removed from the
//! daemon's environment: monitors, runtimes and containers must never inherit it (a container
//! writing `READY=1` or `MAINPID=` there would be taken for berthd). So the sending is done here
//! from the saved address instead of by `sd_notify::notify`, which reads the variable each time.

use sd_notify::NotifyState;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

static TARGET: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// Reads and removes `NOTIFY_SOCKET`. Call once, while the process is still single-threaded
/// (changing the environment races with any thread reading it).
pub fn init() {
    let addr = std::env::var_os("NOTIFY_SOCKET").and_then(|v| {
        let v = v.to_string_lossy().into_owned();
        // A leading '@' is Linux's abstract namespace, as sd_notify(3) reads it.
        let addr = match v.strip_prefix('@') {
            Some(name) => <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&v),
        };
        addr.map_err(|e| eprintln!("berthd: ignoring NOTIFY_SOCKET={v}: {e}")).ok()
    });
    std::env::remove_var("NOTIFY_SOCKET");
    let _ = TARGET.set(addr);
}

/// Sends one datagram with every state, one per line. A failure is logged and otherwise ignored:
/// the daemon serves its API whether or not the manager hears it.
pub fn send(states: &[NotifyState<'_>]) {
    let Some(Some(addr)) = TARGET.get() else {
        return;
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(msg.as_bytes(), addr));
    if let Err(e) = sent {
        tracing::warn!("cannot notify the service manager ({}): {e}", msg.trim_end().replace('\n', ", "));
    }
}

/// A `STATUS=` line alone.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// What `systemctl status` shows once the daemon is settled: its containers and the live restore
/// setting, the one option that decides what a stop of the service does to them.
pub fn settled_status(d: &crate::engine::daemon::Daemon) -> String {
    use crate::model::Status;
    let all = d.store.all();
    let count = |s: Status| all.iter().filter(|e| e.status() == s).count();
    let (running, orphans, restoring) = (count(Status::Running), count(Status::Orphaned), count(Status::Restoring));
    let lr = if d.config().live_restore { "on" } else { "off" };
    let restoring = if restoring > 0 { format!(", {restoring} restoring") } else { String::new() };
    format!("running: {running} containers, {orphans} orphans{restoring}; live restore {lr}")
}

/// RELOADING=1 with the monotonic time newer systemd wants for `Type=notify-reload` (older
/// versions ignore the field).
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading, NotifyState::Status("reloading configuration")];
    match NotifyState::monotonic_usec_now() {
        Ok(t) => states.push(t),
        Err(e) => tracing::warn!("reading the monotonic clock for MONOTONIC_USEC: {e}"),
    }
    send(&states);
}
