//! What a container mounts, decided once at create from `-v` (`Binds`), `--mount` (`Mounts`),
//! `--tmpfs` and the VOLUMEs of its image and config, and recorded with the container so that a
//! restarted daemon starts it with exactly the same mounts.

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::{ContainerConfig, HostConfig, MountPoint};
use std::collections::BTreeMap;
use std::path::Path;

const PROPAGATIONS: &[&str] = &["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::invalid(msg)
}

fn check_destination(dst: &str, spec: &str) -> Result<(), EngineError> {
    if !dst.starts_with('/') || dst.split('/').any(|c| c == "..") {
        return Err(bad(format!(
            "invalid mount config: invalid mount path: '{dst}' mount path must be absolute ({spec})"
        )));
    }
    if dst == "/" {
        return Err(bad(format!("invalid mount config: invalid specification: destination can't be '/' ({spec})")));
    }
    Ok(())
}

/// Resolves every mount; the volumes it names are created (those it creates are returned too, so
/// that a failed create can remove them).
pub fn resolve(
    d: &Daemon,
    config: &ContainerConfig,
    h: &HostConfig,
) -> Result<(Vec<MountPoint>, Vec<String>), EngineError> {
    let mut created = Vec::new();
    let r = resolve_into(d, config, h, &mut created);
    if r.is_err() {
        // A refused create leaves no volume it made behind.
        for name in &created {
            let _ = d.volumes.remove(name);
        }
    }
    r.map(|m| (m, created))
}

/// One `-v src:dst[:opts]`: a host path is a bind (created when missing, as Docker does for
/// `-v`), a name is a volume (created when missing).
/// Finds or creates a named (or, for `None`, anonymous) volume, noting what it created.
type VolumeFn<'a> = dyn Fn(Option<&str>, &mut Vec<String>) -> Result<crate::engine::volumes::Volume, EngineError> + 'a;

fn bind_spec(d: &Daemon, spec: &str, volume: &VolumeFn, created: &mut Vec<String>) -> Result<MountPoint, EngineError> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 || parts[0].is_empty() {
        return Err(bad(format!("invalid volume specification: '{spec}'")));
    }
    let (src, dst, mode) = (parts[0], parts[1], parts.get(2).copied().unwrap_or(""));
    check_destination(dst, spec)?;
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    if let Some(o) =
        opts.iter().find(|o| !matches!(**o, "ro" | "rw" | "z" | "Z" | "nocopy") && !PROPAGATIONS.contains(o))
    {
        return Err(bad(format!("invalid mode: {o}")));
    }
    let rw = !opts.contains(&"ro");
    let propagation = opts.iter().find(|o| PROPAGATIONS.contains(o)).copied().unwrap_or("rprivate").to_string();
    let m = if src.starts_with('/') {
        // As Docker does for -v (not for --mount): a missing host directory is created.
        if !Path::new(src).exists() {
            std::fs::create_dir_all(src)
                .map_err(|e| bad(format!("error while creating mount source path '{src}': {e}")))?;
        }
        MountPoint {
            kind: "bind".into(),
            name: None,
            source: src.into(),
            destination: dst.into(),
            rw,
            mode: mode.into(),
            propagation,
            options: vec![],
            copy_up: false,
        }
    } else {
        let v = volume(Some(src), created)?;
        MountPoint {
            kind: "volume".into(),
            source: d.volumes.data_path(&v.name),
            name: Some(v.name),
            destination: dst.into(),
            rw,
            mode: mode.into(),
            propagation: String::new(),
            options: vec![],
            copy_up: !opts.contains(&"nocopy"),
        }
    };
    Ok(m)
}

fn resolve_into(
    d: &Daemon,
    config: &ContainerConfig,
    h: &HostConfig,
    created: &mut Vec<String>,
) -> Result<Vec<MountPoint>, EngineError> {
    let mut out: Vec<MountPoint> = Vec::new();
    let add = |m: MountPoint, out: &mut Vec<MountPoint>| -> Result<(), EngineError> {
        if out.iter().any(|o| o.destination == m.destination) {
            return Err(bad(format!("Duplicate mount point: {}", m.destination)));
        }
        out.push(m);
        Ok(())
    };
    // `--mount volume-label=…` labels a volume this mount creates; one that exists keeps its own,
    // as in Docker.
    let labelled = |name: Option<&str>,
                    labels: BTreeMap<String, String>,
                    created: &mut Vec<String>|
     -> Result<crate::engine::volumes::Volume, EngineError> {
        let existed = name.is_some_and(|n| d.volumes.get(n).is_some());
        // dockerd takes any `VolumeDriver` at create and uses it for the volumes the container
        // makes; Berth has only local volumes, so a container that would make one is refused.
        if let Some(driver) = h.volume_driver.as_deref().filter(|v| !existed && !v.is_empty() && *v != "local") {
            return Err(bad(format!(
                "HostConfig.VolumeDriver is not supported by Berth (given: {driver:?}): it makes local volumes only"
            )));
        }
        let v = d.volumes.create(name, labels, BTreeMap::new())?;
        if !existed {
            created.push(v.name.clone());
        }
        Ok(v)
    };
    let volume = |name: Option<&str>, created: &mut Vec<String>| labelled(name, BTreeMap::new(), created);
    for spec in h.binds.iter().flatten() {
        add(bind_spec(d, spec, &volume, created)?, &mut out)?;
    }
    for m in h.mounts.iter().flatten() {
        let spec = format!("{}:{}", m.source, m.target);
        check_destination(&m.target, &spec)?;
        let mp = match m.r#type.as_str() {
            "bind" => {
                if !m.source.starts_with('/') {
                    return Err(bad(format!(
                        "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                        m.source
                    )));
                }
                if !Path::new(&m.source).exists() {
                    return Err(bad(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let propagation = m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b["Propagation"].as_str())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("rprivate");
                MountPoint {
                    kind: "bind".into(),
                    name: None,
                    source: m.source.clone().into(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    mode: String::new(),
                    propagation: propagation.into(),
                    options: vec![],
                    copy_up: false,
                }
            }
            "volume" => {
                let labels = m
                    .volume_options
                    .as_ref()
                    .and_then(|o| serde_json::from_value::<BTreeMap<String, String>>(o["Labels"].clone()).ok())
                    .unwrap_or_default();
                let v = labelled(Some(m.source.as_str()).filter(|s| !s.is_empty()), labels, created)?;
                let nocopy = m.volume_options.as_ref().is_some_and(|o| o["NoCopy"].as_bool() == Some(true));
                MountPoint {
                    kind: "volume".into(),
                    source: d.volumes.data_path(&v.name),
                    name: Some(v.name),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    mode: "z".into(),
                    propagation: String::new(),
                    options: vec![],
                    copy_up: !nocopy,
                }
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return Err(bad("invalid mount config for type \"tmpfs\": source must not be specified"));
                }
                let mut options = vec![];
                if let Some(o) = &m.tmpfs_options {
                    if let Some(sz) = o["SizeBytes"].as_i64().filter(|s| *s > 0) {
                        options.push(format!("size={sz}"));
                    }
                    if let Some(mode) = o["Mode"].as_u64() {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                MountPoint {
                    kind: "tmpfs".into(),
                    name: None,
                    source: "tmpfs".into(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    mode: String::new(),
                    propagation: String::new(),
                    options,
                    copy_up: false,
                }
            }
            other => return Err(bad(format!("invalid mount config: mount type unknown: {other:?}"))),
        };
        add(mp, &mut out)?;
    }
    for (dst, opts) in h.tmpfs.iter().flatten() {
        check_destination(dst, dst)?;
        let options: Vec<String> = opts.split(',').filter(|o| !o.is_empty()).map(String::from).collect();
        let rw = !options.iter().any(|o| o == "ro");
        add(
            MountPoint {
                kind: "tmpfs".into(),
                name: None,
                source: "tmpfs".into(),
                destination: dst.clone(),
                rw,
                mode: opts.clone(),
                propagation: String::new(),
                options,
                copy_up: false,
            },
            &mut out,
        )?;
    }
    // `--volumes-from`: the other container's volumes and binds, where the container's own
    // mounts leave the destination free (its own win, as in dockerd).
    for m in volumes_from(d, h)? {
        if !out.iter().any(|o| o.destination == m.destination) {
            out.push(m);
        }
    }
    // VOLUMEs of the image and `-v /path`: an anonymous volume each, unless mounted otherwise.
    for dst in config.volumes.iter().flat_map(|v| v.keys()) {
        if dst.contains(':') {
            // A `src:dst` the client left in Volumes rather than Binds.
            add(bind_spec(d, dst, &volume, created)?, &mut out)?;
            continue;
        }
        if out.iter().any(|o| &o.destination == dst) {
            continue;
        }
        check_destination(dst, dst)?;
        let v = volume(None, created)?;
        out.push(MountPoint {
            kind: "volume".into(),
            source: d.volumes.data_path(&v.name),
            name: Some(v.name),
            destination: dst.clone(),
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            options: vec![],
            copy_up: true,
        });
    }
    Ok(out)
}

/// The volumes and binds of each `--volumes-from container[:mode]`: `ro` makes them read-only,
/// `rw` writable, no mode keeps each as it was in the other container. Already filled: no
/// copy-up. tmpfs mounts are the other container's own and do not come along (as with dockerd).
fn volumes_from(d: &Daemon, h: &HostConfig) -> Result<Vec<MountPoint>, EngineError> {
    let mut out: Vec<MountPoint> = Vec::new();
    for spec in h.volumes_from.iter().flatten() {
        let (name, mode) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
        if let Some(o) = opts.iter().find(|o| !["ro", "rw", "z", "Z"].contains(o)) {
            return Err(bad(format!("invalid mode for --volumes-from {spec:?}: {o}")));
        }
        // 400, not 404: a 404 at create makes the CLI go looking for an image.
        let other = d.store.get(name).map_err(|e| bad(format!("--volumes-from {name}: {e}")))?.snapshot();
        for m in other.mounts.iter().filter(|m| m.kind != "tmpfs") {
            let rw = match (opts.contains(&"ro"), opts.contains(&"rw")) {
                (true, _) => false,
                (_, true) => true,
                _ => m.rw,
            };
            if let Some(i) = out.iter().position(|o| o.destination == m.destination) {
                out.remove(i);
            }
            out.push(MountPoint { rw, copy_up: false, ..m.clone() });
        }
    }
    Ok(out)
}

/// At start: a new volume mounted where the image has content gets a copy of it (once).
pub fn copy_up(d: &Daemon, mounts: &[MountPoint], rootfs: &Path) {
    for m in mounts.iter().filter(|m| m.kind == "volume" && m.copy_up) {
        let Some(name) = &m.name else { continue };
        let Some(v) = d.volumes.get(name) else {
            continue;
        };
        if v.populated {
            continue;
        }
        let empty = std::fs::read_dir(&m.source).map(|mut rd| rd.next().is_none()).unwrap_or(false);
        if let (true, Ok(src)) = (empty, crate::rootfs::secure_join(rootfs, &m.destination)) {
            if src.is_dir() {
                let out = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(format!("{}/.", src.display()))
                    .arg(&m.source)
                    .output();
                if let Err(e) = out.as_ref().map_err(|e| e.to_string()).and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(String::from_utf8_lossy(&o.stderr).into_owned())
                    }
                }) {
                    tracing::warn!(volume = %name, "copying the image's {} into the volume: {e}", m.destination);
                }
            }
        }
        d.volumes.mark_populated(name);
    }
}
