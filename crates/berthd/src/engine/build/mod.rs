//! `docker build` with the classic (v1) builder: a Dockerfile run step by step, each step an
//! image on top of the last. RUN steps are real containers started through the monitor with the
//! engine's defaults; COPY/ADD write into a scratch rootfs of the current image; metadata steps
//! make an image with no new layer. Each step's image is the cache of the next build.
//!
//! What a crash leaves: the context and scratch storage are swept at the next start (`sweep`),
//! RUN containers carry [`BUILD_LABEL`] and are removed by the restore, and every image and layer
//! is published whole by the image store, so a killed build leaves only complete images.

mod cache;
mod context;
mod copy;
mod dispatch;
mod index;
mod run;
mod sources;
mod spool;
mod stage;

use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Marks a build's RUN containers: a build does not survive its daemon, so the restore removes
/// them.
pub const BUILD_LABEL: &str = "berth.build";

/// The options of `POST /build` the builder honours.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// Path of the Dockerfile inside the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    /// `buildargs`: a `null` value takes the variable from the daemon's environment, as Docker.
    pub build_args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub cache_from: Vec<String>,
    /// Remove a step's container once it succeeded (`rm`), or always (`forcerm`).
    pub rm: bool,
    pub force_rm: bool,
    pub labels: BTreeMap<String, String>,
    /// `networkmode`: `default` (the bridge), `bridge`, `host`, `none`, a user network.
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub limits: Limits,
    /// `ulimits` of RUN steps.
    pub ulimits: Vec<crate::model::Ulimit>,
    /// `cgroupparent` of RUN steps.
    pub cgroup_parent: Option<String>,
    /// Pull base images even when present (`pull`).
    pub pull: bool,
    /// `q`: only the image id is printed at the end.
    pub quiet: bool,
}

/// Resource limits of RUN steps (`memory`, `memswap`, `cpu*`).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
}

/// What a build says as it goes: the API turns these into Docker's JSON stream.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// Text for the client's terminal (`{"stream": …}`).
    Stream(String),
    /// The built image (`{"aux": {"ID": …}}`).
    Built(String),
}

/// Where a build's events go; a client that went away is not an error for the build.
#[derive(Clone)]
pub struct Out {
    tx: UnboundedSender<BuildEvent>,
    quiet: bool,
}

impl Out {
    pub fn new(tx: UnboundedSender<BuildEvent>, quiet: bool) -> Self {
        Out { tx, quiet }
    }

    pub(crate) fn say(&self, text: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(BuildEvent::Stream(text.into()));
        }
    }

    /// The client went away: the build stops.
    pub(crate) fn gone(&self) -> bool {
        self.tx.is_closed()
    }

    fn always(&self, ev: BuildEvent) {
        let _ = self.tx.send(ev);
    }
}

/// Runs a build of the context read from `context` (a tar, plain or compressed, or a bare
/// Dockerfile). Returns the final image id; a failure after the first event is reported by the
/// caller as the stream's last message.
pub async fn build(
    d: &Arc<Daemon>,
    spec: BuildSpec,
    context: impl std::io::Read + Send + 'static,
    out: Out,
) -> Result<String, EngineError> {
    let t0 = std::time::Instant::now();
    let mut ctx = context::receive(d, context).await?;
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "build context received");
    let file = ctx.dockerfile(&spec.dockerfile).await?;
    let parsed = berth_dockerfile::parse(&file).map_err(|e| EngineError::invalid(e.to_string()))?;
    let id = stage::run_all(d, &spec, &ctx, parsed, &out).await?;
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "build steps done");
    let short = berth_image::short_id(&id);
    if spec.quiet {
        out.always(BuildEvent::Stream(format!("{id}\n")));
    }
    out.always(BuildEvent::Built(id.clone()));
    out.say(format!("Successfully built {short}\n"));
    for t in &spec.tags {
        let (images, id2, t2) = (d.images.clone(), id.clone(), t.clone());
        tokio::task::spawn_blocking(move || images.tag(&id2, &t2)).await?.map_err(EngineError::from)?;
        let shown = berth_image::normalize_reference(t).map(|n| familiar(&n)).unwrap_or_else(|_| t.clone());
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), shown.clone());
        d.events.emit("image", "tag", &id, attrs);
        out.say(format!("Successfully tagged {shown}\n"));
    }
    Ok(id)
}

/// `docker.io/library/x:latest` as Docker prints it: `x:latest`.
fn familiar(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    r.strip_prefix("library/").unwrap_or(r).to_string()
}

/// Leftovers of builds a crash cut short: contexts and scratch roots, and RUN containers, which
/// no build will come back for. Only what is older than this daemon: builds may already run.
pub async fn sweep(d: &Arc<Daemon>) {
    context::sweep(d);
    let booted: chrono::DateTime<chrono::Utc> = d.booted.into();
    for e in d.store.all() {
        let c = e.snapshot();
        let before = chrono::DateTime::parse_from_rfc3339(&c.created).is_ok_and(|t| t < booted);
        if before && c.config.labels.as_ref().is_some_and(|l| l.contains_key(BUILD_LABEL)) {
            tracing::info!(id = %c.short_id(), "removing a container of an interrupted build");
            if let Err(err) = crate::engine::lifecycle::remove(d, &e, true, true).await {
                tracing::warn!(id = %c.short_id(), "removing a build container: {err}");
            }
        }
    }
}
