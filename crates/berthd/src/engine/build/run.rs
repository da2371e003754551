//! RUN: the command in a real container of the current image, created and started as any
//! container (the monitor, the engine's seccomp/capability defaults, the build's network and
//! limits), its output relayed from its log as it comes (stderr in red, as dockerd), its
//! changes committed as the step's layer. FROM's base images are pulled here when missing.

use super::dispatch::{command_of, probe, step_key};
use super::stage::{Build, State, PROXY_ARGS};
use super::BUILD_LABEL;
use crate::engine::lifecycle;
use crate::engine::lifecycle::create::CreateSpec;
use crate::engine::store::Entry;
use crate::engine::EngineError;
use crate::logs::{Filter, Follower};
use crate::model::{ContainerConfig, HealthConfig, HostConfig, LogConfig, Status};
use berth_dockerfile::ShellOrExec;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The base image of a stage: the local one, or pulled (always with `pull=1`).
pub(super) async fn base_image(b: &Build<'_>, name: &str) -> Result<String, EngineError> {
    if !b.spec.pull {
        if let Ok(img) = b.d.images.resolve(name) {
            return Ok(img.id.to_string());
        }
    }
    let (store, opts, out) = (b.d.images.clone(), b.d.registry_options(), b.out.clone());
    let creds = berth_registry::Credentials::default();
    let say = move |e: berth_registry::Event| {
        if let berth_registry::Event::Status(s) = e {
            out.say(format!("{s}\n"));
        }
    };
    match berth_registry::pull(store, &opts, name, None, &creds, &say).await {
        Ok(p) => {
            let mut attrs = BTreeMap::new();
            attrs.insert("name".to_string(), name.to_string());
            b.d.events.emit("image", "pull", &p.id, attrs);
            Ok(p.id.to_string())
        }
        // dockerd's words for each: a refusal or an unknown repository is "pull access denied",
        // anything else (no network, a registry that does not answer) says what failed.
        Err(e @ (berth_registry::RegistryError::Unauthorized(_) | berth_registry::RegistryError::NotFound(_))) => {
            Err(EngineError::not_found(format!(
                "pull access denied for {name}, repository does not exist or may require 'docker login': {e}"
            )))
        }
        Err(berth_registry::RegistryError::Reference(m)) => {
            Err(EngineError::invalid(format!("invalid reference format: {name}: {m}")))
        }
        Err(e) => Err(EngineError::internal(format!("pulling the base image {name}: {e}"))),
    }
}

/// The RUN's environment beyond the image's: the stage's build args (an ENV of the same name
/// wins) and the proxy args the client passed. The first list is what the history shows.
fn run_env(b: &Build<'_>, s: &State) -> (Vec<String>, Vec<String>) {
    let in_env = |k: &str| s.config.env.iter().flatten().any(|e| e.split('=').next() == Some(k));
    let mut shown: Vec<String> = s
        .args
        .iter()
        .filter(|(k, v)| v.is_some() && !in_env(k))
        .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
        .collect();
    shown.sort();
    let mut env = shown.clone();
    for p in PROXY_ARGS {
        if s.args.iter().any(|(k, _)| k == p) || in_env(p) {
            continue;
        }
        if let Some(Some(v)) = b.build_arg(p) {
            env.push(format!("{p}={v}"));
        }
    }
    (shown, env)
}

pub(super) async fn run(b: &mut Build<'_>, s: &mut State, cmd: &ShellOrExec) -> Result<(), EngineError> {
    let argv = command_of(s, cmd);
    let (shown, env) = run_env(b, s);
    for p in PROXY_ARGS {
        if b.spec.build_args.contains_key(p) {
            b.used_args.insert(p.to_string());
        }
    }
    let created_by = if shown.is_empty() {
        argv.join(" ")
    } else {
        format!("|{} {} {}", shown.len(), shown.join(" "), argv.join(" "))
    };
    let key = step_key(s, &created_by, "");
    if probe(b, s, &key) {
        return Ok(());
    }
    let Some(image) = s.image.clone() else {
        return Err(EngineError::invalid(format!(
            "The command '{}' cannot run: the stage is FROM scratch and has no files yet",
            argv.join(" ")
        )));
    };
    let e = create(b, s, &image, argv.clone(), env).await?;
    let short = e.snapshot().short_id().to_string();
    b.out.say(format!(" ---> Running in {short}\n"));
    let result = execute(b, &e).await;
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            remove(b, &e).await;
            return Err(err);
        }
    };
    if code != 0 {
        // A failed step's container goes too unless the client asked to keep them (`rm=0`).
        if b.spec.rm || b.spec.force_rm {
            remove(b, &e).await;
        } else {
            keep(&e);
        }
        return Err(EngineError::StepFailed {
            message: format!("The command '{}' returned a non-zero code: {code}", argv.join(" ")),
            code,
        });
    }
    let child = berth_image::ChildImage {
        layer: None,
        config: s.config.clone(),
        created_by,
        author: s.author.clone(),
        comment: None,
        reference: None,
        container: Some(e.snapshot().id),
    };
    berth_proto::crashpoint::hit("build.after-run");
    let committed = crate::engine::commit::commit_with(b.d, &e.snapshot().id, child).await;
    if b.spec.rm || b.spec.force_rm {
        remove(b, &e).await;
        b.out.say(format!("Removing intermediate container {short}\n"));
    } else {
        keep(&e);
    }
    let id = committed?;
    b.cache.put(&key, &id);
    b.out.say(format!(" ---> {}\n", berth_image::short_id(&id)));
    s.image = Some(id);
    Ok(())
}

async fn create(
    b: &Build<'_>,
    s: &State,
    image: &str,
    argv: Vec<String>,
    env: Vec<String>,
) -> Result<Arc<Entry>, EngineError> {
    let mut labels = BTreeMap::new();
    labels.insert(BUILD_LABEL.to_string(), "run".to_string());
    let config = ContainerConfig {
        image: Some(image.to_string()),
        cmd: Some(argv),
        // An image's ENTRYPOINT does not wrap RUN commands.
        entrypoint: Some(vec![]),
        env: Some(env),
        user: Some(s.config.user.clone()).filter(|u| !u.is_empty()),
        working_dir: Some(s.config.working_dir.clone()).filter(|w| !w.is_empty()),
        labels: Some(labels),
        attach_stdout: true,
        attach_stderr: true,
        // The image's health check has nothing to watch in a build step.
        healthcheck: Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }),
        ..Default::default()
    };
    let spec = b.spec;
    let network_mode = match spec.network_mode.as_str() {
        "" | "default" => "bridge".to_string(),
        other => other.to_string(),
    };
    let host = HostConfig {
        network_mode: Some(network_mode),
        extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
        shm_size: spec.shm_size,
        memory: spec.limits.memory,
        memory_swap: spec.limits.memory_swap,
        cpu_shares: spec.limits.cpu_shares,
        cpu_period: spec.limits.cpu_period,
        cpu_quota: spec.limits.cpu_quota,
        cpuset_cpus: spec.limits.cpuset_cpus.clone(),
        cpuset_mems: spec.limits.cpuset_mems.clone(),
        ulimits: (!spec.ulimits.is_empty()).then(|| spec.ulimits.clone()),
        cgroup_parent: spec.cgroup_parent.clone(),
        // The step's output is read back from its log: always json-file.
        log_config: Some(LogConfig { type_: Some("json-file".into()), config: Some(BTreeMap::new()) }),
        ..Default::default()
    };
    let spec = CreateSpec { name: None, config, host, endpoints: BTreeMap::new(), mac_address: None };
    let (id, _warnings) = lifecycle::create::create(b.d, spec).await?;
    Ok(b.d.store.get(&id)?)
}

/// Starts the step's container and relays its output until it exits; its exit code.
async fn execute(b: &Build<'_>, e: &Arc<Entry>) -> Result<i64, EngineError> {
    lifecycle::start(b.d, e).await?;
    let log = e.snapshot().log_path;
    let mut follower = Follower::new(&log, 0);
    let filter = Filter { stdout: true, stderr: true, ..Default::default() };
    let mut changed = e.changed.subscribe();
    loop {
        relay(b, &mut follower, &filter);
        let c = e.snapshot();
        let seen = c.state.seen();
        if !seen.is_live() && seen != Status::Removing && seen != Status::Created {
            // The monitor drains the pipes before it records the exit: the log is complete.
            relay(b, &mut follower, &filter);
            return Ok(c.state.exit_code.into());
        }
        if b.out.gone() {
            let _ = lifecycle::kill(b.d, e, libc::SIGKILL).await;
            return Err(EngineError::internal("the build was cancelled: the client went away"));
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { tokio::time::sleep(Duration::from_millis(20)).await },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

fn relay(b: &Build<'_>, follower: &mut Follower, filter: &Filter) {
    match follower.poll(filter) {
        Ok(lines) => {
            for l in lines {
                if l.stream == "stderr" {
                    b.out.say(format!("\u{1b}[91m{}\u{1b}[0m", l.log));
                } else {
                    b.out.say(l.log);
                }
            }
        }
        Err(err) => tracing::warn!("reading a build step's log: {err}"),
    }
}

/// A step's container the client keeps (`rm=0`) is the client's from now on: without the build
/// label, the restore does not take it for one of an interrupted build.
fn keep(e: &Entry) {
    let dropped = e.update(|c| {
        if let Some(l) = c.config.labels.as_mut() {
            l.remove(BUILD_LABEL);
        }
    });
    if let Err(err) = dropped {
        tracing::warn!(id = %e.snapshot().short_id(), "recording a kept build container: {err}");
    }
}

async fn remove(b: &Build<'_>, e: &Arc<Entry>) {
    if let Err(err) = lifecycle::remove(b.d, e, true, true).await {
        tracing::warn!(id = %e.snapshot().short_id(), "removing a build step's container: {err}");
    }
}
