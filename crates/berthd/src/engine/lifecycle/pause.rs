//! `docker pause` and `unpause`: the container's cgroup frozen or thawed.

use crate::cgroupctl;
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::Status;

pub async fn set_paused(d: &Daemon, id: &str, pause: bool) -> Result<(), EngineError> {
    let e = d.store.get(id)?;
    let _op = e.op.lock().await;
    let c = e.snapshot();
    match (c.state.status, pause) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Err(EngineError::conflict(format!("Container {} is already paused", c.id))),
        (Status::Running, false) => return Err(EngineError::conflict(format!("Container {} is not paused", c.id))),
        _ => return Err(EngineError::conflict(format!("Container {} is not running", c.id))),
    }
    let path = c.options.cgroups_path.clone();
    tokio::task::spawn_blocking(move || cgroupctl::freeze(&path, pause)).await?.map_err(EngineError::internal)?;
    e.update(|x| x.state.status = if pause { Status::Paused } else { Status::Running })?;
    d.events.emit("container", if pause { "pause" } else { "unpause" }, &c.id, super::attrs(&c));
    Ok(())
}
