//! Managed plugins, as far as Berth takes them: `docker plugin create` stores a plugin (its
//! `config.json` and its rootfs, unpacked with the image store's safe extraction), and it can
//! be listed, inspected and removed. Berth has no plugin runtime: enabling one is refused by
//! name (`api::plugins`), so a plugin here is always disabled.
//!
//! On disk: `<data-root>/plugins/<id>/{plugin.json,rootfs/}`, made in a `.tmp-*` sibling and
//! published by a rename, so a crash never shows half a plugin (leftovers swept on create).

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::plugin::{PluginRecord, PLUGIN_RECORD_VERSION};
use std::io::Read;
use std::path::PathBuf;

fn home(d: &Daemon) -> PathBuf {
    d.config().data_root.join("plugins")
}

/// Docker's plugin name: a reference, `:latest` when no tag is given, no digest.
pub fn normalize_name(name: &str) -> Result<String, EngineError> {
    if name.is_empty() || name.contains('@') {
        return Err(EngineError::invalid(format!("invalid plugin name {name:?}")));
    }
    let full = berth_image::normalize_reference(name).map_err(|e| EngineError::invalid(e.to_string()))?;
    let short = full.strip_prefix("docker.io/").unwrap_or(&full);
    Ok(short.strip_prefix("library/").unwrap_or(short).to_string())
}

pub fn list(d: &Daemon) -> Vec<PluginRecord> {
    let Ok(rd) = std::fs::read_dir(home(d)) else { return Vec::new() };
    let mut out: Vec<PluginRecord> = rd
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| berth_proto::fsutil::read_json::<PluginRecord>(&e.path().join("plugin.json")).ok().flatten())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A plugin by name (with or without its tag), full id or unique id prefix.
pub fn get(d: &Daemon, name: &str) -> Result<PluginRecord, EngineError> {
    let all = list(d);
    let wanted = normalize_name(name).ok();
    if let Some(p) = all.iter().find(|p| Some(&p.name) == wanted.as_ref() || p.id == name) {
        return Ok(p.clone());
    }
    let by_prefix: Vec<&PluginRecord> = all.iter().filter(|p| name.len() >= 3 && p.id.starts_with(name)).collect();
    match by_prefix.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(EngineError::not_found(format!("plugin \"{name}\" not found"))),
        _ => Err(EngineError::invalid(format!("multiple plugins found with prefix {name:?}"))),
    }
}

/// `POST /plugins/create`: the body is a tar of `config.json` and `rootfs/`; `check` says whether
/// the config has the shape the API will show (the engine does not know the wire's).
pub async fn create(
    d: &std::sync::Arc<Daemon>,
    name: &str,
    body: impl Read + Send + 'static,
    check: fn(&serde_json::Value) -> Result<(), String>,
) -> Result<String, EngineError> {
    let early = normalize_name(name).and_then(|name| match list(d).iter().any(|p| p.name == name) {
        true => Err(EngineError::conflict(format!("plugin {name:?} already exists"))),
        false => Ok(name),
    });
    let home = home(d);
    tokio::task::spawn_blocking(move || -> Result<String, EngineError> {
        let mut body = body;
        let name = match early {
            Ok(n) => n,
            Err(e) => {
                // Read to the end before answering: the client is still sending, and would see
                // a broken pipe instead of the refusal.
                let _ = std::io::copy(&mut body, &mut std::io::sink());
                return Err(e);
            }
        };
        berth_proto::fsutil::create_dir_mode(&home, berth_proto::fsutil::modes::PRIVATE_DIR)?;
        for e in std::fs::read_dir(&home)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let tmp = home.join(format!(".tmp-{id}"));
        berth_proto::fsutil::create_dir_mode(&tmp, berth_proto::fsutil::modes::PRIVATE_DIR)?;
        let made = (|| -> Result<(), EngineError> {
            let unpacked = tmp.join("unpacked");
            std::fs::create_dir(&unpacked)?;
            berth_image::extract_copy(body, &unpacked, None).map_err(|e| match e {
                berth_image::ImageError::InvalidInput(m) => {
                    EngineError::invalid(format!("invalid plugin archive: {m}"))
                }
                other => other.into(),
            })?;
            let cfg = berth_image::open_in_root(&unpacked, "config.json", false)
                .ok()
                .filter(|s| !s.is_dir())
                .ok_or_else(|| EngineError::invalid("the plugin archive has no config.json"))?;
            let mut text = Vec::new();
            std::fs::File::open(cfg.proc_path())?.take(1 << 20).read_to_end(&mut text)?;
            let config: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| EngineError::invalid(format!("invalid plugin config.json: {e}")))?;
            // Checked now, so that inspect never fails on it later.
            check(&config).map_err(|e| EngineError::invalid(format!("invalid plugin config.json: {e}")))?;
            if !berth_image::open_in_root(&unpacked, "rootfs", false).is_ok_and(|s| s.is_dir()) {
                return Err(EngineError::invalid("the plugin archive has no rootfs directory"));
            }
            // Only a name at the top, inside our own fresh directory: no link can redirect it.
            std::fs::rename(unpacked.join("rootfs"), tmp.join("rootfs"))?;
            std::fs::remove_dir_all(&unpacked)?;
            let rec = PluginRecord {
                record_version: PLUGIN_RECORD_VERSION,
                id: id.clone(),
                name,
                created: crate::engine::store::now_rfc3339(),
                config,
            };
            berth_proto::fsutil::write_json_atomic(&tmp.join("plugin.json"), &rec)?;
            std::fs::rename(&tmp, home.join(&id))?;
            Ok(())
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        made.map(|()| id)
    })
    .await?
}

/// `DELETE /plugins/{name}`: a plugin here is never enabled, so `force` changes nothing.
pub async fn remove(d: &Daemon, name: &str) -> Result<(), EngineError> {
    let p = get(d, name)?;
    let dir = home(d).join(&p.id);
    let gone = home(d).join(format!(".tmp-rm-{}", p.id));
    // Renamed first: a crash in the middle leaves a `.tmp-` the next create sweeps.
    std::fs::rename(&dir, &gone)?;
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(gone)).await??;
    Ok(())
}
