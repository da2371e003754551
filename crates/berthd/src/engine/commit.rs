//! `docker commit` (moby `daemon/commit.go` and `daemon/images/image_commit.go`): a container's
//! own changes become a layer on top of its image, and a child image records that image as its
//! parent. The builder commits its steps through [`commit_with`].

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use crate::model::{Container, ContainerConfig, Status};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What `POST /commit` asks for.
#[derive(Debug, Clone)]
pub struct CommitSpec {
    /// Id or name.
    pub container: String,
    /// `repo[:tag]`.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Dockerfile-like changes (`CMD`, `ENV`, `EXPOSE`, …).
    pub changes: Vec<String>,
    /// The request body's `Config`, merged over the container's as dockerd does.
    pub config: Option<ContainerConfig>,
    /// A running container is paused during the commit (Docker's default).
    pub pause: bool,
}

/// The record's config in the image's vocabulary (what an image config can carry).
pub fn image_config(c: &ContainerConfig) -> berth_image::ContainerConfig {
    let empties = |m: &Option<BTreeMap<String, serde_json::Value>>| {
        m.as_ref().map(|m| m.keys().map(|k| (k.clone(), berth_image::Empty {})).collect())
    };
    berth_image::ContainerConfig {
        user: c.user.clone().unwrap_or_default(),
        exposed_ports: empties(&c.exposed_ports),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        volumes: empties(&c.volumes),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone(),
        healthcheck: c.healthcheck.as_ref().map(|h| berth_image::HealthConfig {
            test: h.test.clone().unwrap_or_default(),
            interval: h.interval.unwrap_or(0),
            timeout: h.timeout.unwrap_or(0),
            start_period: h.start_period.unwrap_or(0),
            start_interval: h.start_interval.unwrap_or(0),
            retries: h.retries.unwrap_or(0),
        }),
        ..Default::default()
    }
}

/// Docker's `merge(userConf, imageConf)`: what the user's config leaves unset comes from the
/// container's.
fn merge(user: &mut berth_image::ContainerConfig, base: &berth_image::ContainerConfig) {
    if user.user.is_empty() {
        user.user = base.user.clone();
    }
    match (&mut user.exposed_ports, &base.exposed_ports) {
        (Some(u), b) if !u.is_empty() => b.iter().flatten().for_each(|(k, _)| {
            u.entry(k.clone()).or_default();
        }),
        (u, b) => *u = b.clone(),
    }
    if user.env.as_ref().is_none_or(|e| e.is_empty()) {
        user.env = base.env.clone();
    } else if let (Some(u), Some(b)) = (&mut user.env, &base.env) {
        let key = |e: &str| e.split_once('=').map_or(e.to_string(), |(k, _)| k.to_string());
        for e in b {
            if !u.iter().any(|x| key(x) == key(e)) {
                u.push(e.clone());
            }
        }
    }
    let labels = user.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in base.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = base.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint.clone();
        }
    }
    if let Some(b) = &base.healthcheck {
        match &mut user.healthcheck {
            None => user.healthcheck = Some(b.clone()),
            Some(u) => {
                if u.test.is_empty() {
                    u.test = b.test.clone();
                }
                for (x, y) in [
                    (&mut u.interval, b.interval),
                    (&mut u.timeout, b.timeout),
                    (&mut u.start_period, b.start_period),
                    (&mut u.start_interval, b.start_interval),
                    (&mut u.retries, b.retries),
                ] {
                    if *x == 0 {
                        *x = y;
                    }
                }
            }
        }
    }
    if user.working_dir.is_empty() {
        user.working_dir = base.working_dir.clone();
    }
    match (&mut user.volumes, &base.volumes) {
        (Some(u), b) if !u.is_empty() => u.extend(b.clone().unwrap_or_default()),
        (u, b) => *u = b.clone(),
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = base.stop_signal.clone();
    }
}

/// Freezes a running container for the time of a commit and thaws it after, with the
/// pause/unpause events dockerd sends around a commit.
struct Paused<'a> {
    d: &'a Daemon,
    e: Arc<crate::engine::store::Entry>,
}

impl<'a> Paused<'a> {
    async fn new(d: &'a Daemon, e: Arc<crate::engine::store::Entry>) -> Result<Paused<'a>, EngineError> {
        set_frozen(d, &e, true).await?;
        Ok(Paused { d, e })
    }

    async fn release(self) -> Result<(), EngineError> {
        set_frozen(self.d, &self.e, false).await
    }
}

async fn set_frozen(d: &Daemon, e: &crate::engine::store::Entry, frozen: bool) -> Result<(), EngineError> {
    let c = e.snapshot();
    let path = c.options.cgroups_path.clone();
    tokio::task::spawn_blocking(move || crate::cgroupctl::freeze(&path, frozen))
        .await?
        .map_err(EngineError::internal)?;
    e.update(|x| x.state.status = if frozen { Status::Paused } else { Status::Running })?;
    d.events.emit("container", if frozen { "pause" } else { "unpause" }, &c.id, super::lifecycle::attrs(&c));
    Ok(())
}

/// `docker commit`: the container's changes on top of its image, with the config dockerd
/// computes (the body's config or the container's, the changes applied, then merged over the
/// container's config). Returns the new image's id.
pub async fn commit(d: &Arc<Daemon>, spec: CommitSpec) -> Result<String, EngineError> {
    let e = d.store.get(&spec.container)?;
    // What can be refused is refused before anything is paused or written.
    if let Some(r) = &spec.reference {
        berth_image::normalize_reference(r)?;
    }
    let span = tracing::info_span!("commit", id = %e.snapshot().short_id());
    tracing::Instrument::instrument(commit_entry(d, e, spec), span).await
}

async fn commit_entry(
    d: &Arc<Daemon>,
    e: Arc<crate::engine::store::Entry>,
    spec: CommitSpec,
) -> Result<String, EngineError> {
    let _op = e.op.clone().lock_owned().await;
    let c = e.snapshot();
    match c.state.status {
        Status::Dead => {
            return Err(EngineError::conflict(format!("You cannot commit container {} which is Dead", c.id)))
        }
        Status::Removing => {
            return Err(EngineError::conflict(format!("You cannot commit container {} which is being removed", c.id)))
        }
        _ => {}
    }
    let container_config = image_config(&c.config);
    let mut config = spec.config.as_ref().map(image_config).unwrap_or_else(|| container_config.clone());
    berth_image::apply_changes(&mut config, &spec.changes)?;
    merge(&mut config, &container_config);
    let child = berth_image::ChildImage {
        layer: None,
        config,
        created_by: c.config.cmd.clone().unwrap_or_default().join(" "),
        author: spec.author.clone(),
        comment: spec.comment.clone(),
        reference: spec.reference.clone(),
        container: Some(c.id.clone()),
    };
    let paused = if spec.pause && c.state.status == Status::Running {
        match Paused::new(d, e.clone()).await {
            Ok(p) => Some(p),
            // It exited between the look at its state and the freeze (docker-py commits a
            // `touch` right after starting it): nothing runs that a pause would hold.
            Err(err) if !crate::cgroupctl::exists(&c.options.cgroups_path) => {
                tracing::debug!("committing without a pause, the container has exited: {err}");
                None
            }
            Err(err) => return Err(err),
        }
    } else {
        None
    };
    let made = make(d, &c, child, Some(container_config)).await;
    if let Some(p) = paused {
        if let Err(err) = p.release().await {
            tracing::warn!("thawing after the commit: {err}");
        }
    }
    let id = made?;
    tracing::info!(image = %id, "committed");
    let image_ref =
        spec.reference.as_deref().and_then(|r| berth_image::normalize_reference(r).ok()).unwrap_or_default();
    let mut attrs = super::lifecycle::attrs(&c);
    attrs.insert("comment".into(), spec.comment.unwrap_or_default());
    attrs.insert("imageID".into(), id.clone());
    attrs.insert("imageRef".into(), image_ref);
    d.events.emit("container", "commit", &c.id, attrs);
    Ok(id)
}

/// For the builder: commits a (stopped) container's changes on top of its image with exactly
/// this image config and history line; no pause, no merging. The image's `container_config` is
/// `child.config` (as Docker's classic builder writes it).
pub async fn commit_with(
    d: &Arc<Daemon>,
    container_id: &str,
    child: berth_image::ChildImage,
) -> Result<String, EngineError> {
    let e = d.store.get(container_id)?;
    let span = tracing::info_span!("commit", id = %e.snapshot().short_id());
    let _op = e.op.clone().lock_owned().await;
    let c = e.snapshot();
    let container_config = child.container.as_ref().map(|_| child.config.clone());
    tracing::Instrument::instrument(make(d, &c, child, container_config), span).await
}

/// The layer, then the image; the image and tag events dockerd sends.
async fn make(
    d: &Arc<Daemon>,
    c: &Container,
    mut child: berth_image::ChildImage,
    container_config: Option<berth_image::ContainerConfig>,
) -> Result<String, EngineError> {
    let driver = d.driver(&c.options.storage_driver)?;
    let images = d.images.clone();
    let (cid, image_id) = (c.id.clone(), c.image_id.clone());
    let reference = child.reference.clone();
    let id = tokio::task::spawn_blocking(move || -> Result<String, berth_image::ImageError> {
        let parent = images.resolve(&image_id)?;
        let layers = images.layer_dirs(&parent.id)?;
        let layer =
            images.layer_from_container(driver.as_ref(), &cid, &layers, parent.chain_ids.last().map(String::as_str))?;
        child.layer = Some(layer);
        images.create_child_with(Some(&parent.id), child, container_config)
    })
    .await??;
    d.events.emit("image", "create", &id, BTreeMap::from([("name".to_string(), id.clone())]));
    if let Some(r) = reference.as_deref().and_then(|r| berth_image::normalize_reference(r).ok()) {
        d.events.emit("image", "tag", &id, BTreeMap::from([("name".to_string(), r)]));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_takes_what_the_users_config_leaves_unset() {
        let base = berth_image::ContainerConfig {
            user: "app".into(),
            env: Some(vec!["A=1".into(), "B=2".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: "/w".into(),
            labels: Some([("l".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let mut user = berth_image::ContainerConfig {
            env: Some(vec!["B=3".into()]),
            entrypoint: Some(vec!["/bin/x".into()]),
            ..Default::default()
        };
        merge(&mut user, &base);
        assert_eq!(user.env, Some(vec!["B=3".into(), "A=1".into()]));
        assert_eq!((user.user.as_str(), user.working_dir.as_str()), ("app", "/w"));
        // An entrypoint given: the container's CMD is not carried over (dockerd's merge).
        assert_eq!(user.cmd, None);
        assert_eq!(user.labels, base.labels);
        let mut ports = berth_image::ContainerConfig {
            exposed_ports: Some([("80/tcp".to_string(), berth_image::Empty {})].into()),
            ..Default::default()
        };
        merge(&mut ports, &base);
        assert_eq!(ports.exposed_ports.map(|p| p.len()), Some(1), "kept when the container has none");
        let mut empty = berth_image::ContainerConfig::default();
        merge(&mut empty, &base);
        assert_eq!(empty.cmd, base.cmd);
    }
}
