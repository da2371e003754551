//! `docker rename`.

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use std::sync::Arc;

pub async fn rename(d: &Arc<Daemon>, id: &str, new: &str) -> Result<(), EngineError> {
    let e = d.store.get(id)?;
    let new = new.trim_start_matches('/').to_string();
    if new.is_empty() {
        return Err(EngineError::invalid("Neither old nor new names may be empty"));
    }
    if !crate::engine::store::valid_name(&new) {
        return Err(EngineError::invalid(format!(
            "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let _op = e.op.lock().await;
    let c = e.snapshot();
    if c.name == new {
        return Err(EngineError::invalid("Renaming a container with the same name as its current name"));
    }
    // The store's name check and the record's update under one lock: two renames never race to
    // the same name.
    d.store.rename(&c.id, &new).map_err(|other| {
        EngineError::conflict(format!(
            "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        ))
    })?;
    e.update(|x| x.name = new.clone())?;
    let mut attrs = super::attrs(&e.snapshot());
    attrs.insert("oldName".into(), format!("/{}", c.name));
    d.events.emit("container", "rename", &c.id, attrs);
    // Peers on user networks know it by its new name.
    let (d2, nets) = (d.clone(), c.endpoints().map(|ep| ep.network.clone()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || nets.iter().for_each(|n| d2.net.refresh_hosts(&d2, n))).await?;
    Ok(())
}
