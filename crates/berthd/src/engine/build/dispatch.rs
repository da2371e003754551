//! One Dockerfile instruction applied to its stage. Metadata instructions make an image with no
//! new layer; RUN (`run`), COPY/ADD (`copy`) and a WORKDIR that has to create its directory add
//! one. Every step first asks the cache (`Using cache`), then records what it made.

use super::cache;
use super::stage::{Build, State};
use crate::engine::EngineError;
use berth_dockerfile::{ArgDecl, From, Health, Instruction, Kind, ShellLex, ShellOrExec};
use berth_image::{ChildImage, ContainerConfig};
use std::collections::BTreeMap;

/// `FROM`: the stage's base, a previous stage, an image in the store (pulled if missing), or
/// `scratch`; then the base's ONBUILD triggers.
pub(super) async fn from(
    b: &mut Build<'_>,
    f: &From,
    meta: &BTreeMap<String, Option<String>>,
    lex: &ShellLex,
) -> Result<State, EngineError> {
    let name = lex
        .process_word(&f.image, &|n| meta.get(n).cloned().flatten())
        .map_err(|e| EngineError::invalid(e.to_string()))?;
    if let Some(p) = &f.platform {
        let p = lex
            .process_word(p, &|n| meta.get(n).cloned().flatten())
            .map_err(|e| EngineError::invalid(e.to_string()))?;
        berth_registry::check_platform(&p).map_err(EngineError::invalid)?;
    }
    let lower = name.to_lowercase();
    let previous = b.stages.iter().rev().find(|(n, _)| n.as_deref() == Some(lower.as_str())).map(|(_, i)| i.clone());
    let image = match previous {
        Some(img) => img,
        None if lower == "scratch" => None,
        None => Some(super::run::base_image(b, &name).await?),
    };
    let config = match &image {
        Some(id) => b.d.images.config(id)?.config,
        None => ContainerConfig::default(),
    };
    if let Some(id) = &image {
        b.out.say(format!(" ---> {}\n", berth_image::short_id(id)));
    }
    let mut state =
        State { image, config, args: Vec::new(), cmd_set: false, author: None, lex: ShellLex::new(lex.escape) };
    let triggers = state.config.on_build.take().unwrap_or_default();
    if !triggers.is_empty() {
        let n = triggers.len();
        b.out.say(format!("# Executing {n} build trigger{}\n", if n == 1 { "" } else { "s" }));
        for t in triggers {
            let df = berth_dockerfile::parse(&format!("FROM scratch\n{t}\n"))
                .map_err(|e| EngineError::invalid(format!("invalid ONBUILD trigger {t:?}: {e}")))?;
            for ins in df.stages.into_iter().flat_map(|s| s.instructions) {
                step(b, &mut state, &ins).await?;
            }
        }
    }
    Ok(state)
}

pub(super) async fn step(b: &mut Build<'_>, s: &mut State, ins: &Instruction) -> Result<(), EngineError> {
    match &ins.kind {
        Kind::Run(cmd) => super::run::run(b, s, cmd).await,
        Kind::Copy(a) => super::copy::copy(b, s, a, false).await,
        Kind::Add(a) => super::copy::copy(b, s, a, true).await,
        Kind::Workdir(w) => super::copy::workdir(b, s, w).await,
        Kind::Env(pairs) => {
            let mut text = String::from("ENV");
            let mut set = Vec::new();
            for (k, v) in pairs {
                let (k, v) = (s.expand(k)?, s.expand(v)?);
                if k.is_empty() {
                    return Err(EngineError::invalid("ENV names can not be blank"));
                }
                text.push_str(&format!(" {k}={v}"));
                set.push((k, v));
            }
            let env = s.config.env.get_or_insert_with(Vec::new);
            for (k, v) in set {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            meta(b, s, &text).await
        }
        Kind::Label(pairs) => {
            let mut labels = BTreeMap::new();
            for (k, v) in pairs {
                labels.insert(s.expand(k)?, s.expand(v)?);
            }
            let text = labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
            labels_into(b, s, labels, &text).await
        }
        Kind::Arg(decls) => arg(b, s, decls).await,
        Kind::User(u) => {
            let u = s.expand(u)?;
            s.config.user = u.clone();
            meta(b, s, &format!("USER {u}")).await
        }
        Kind::Expose(words) => {
            let mut ports = Vec::new();
            for w in words {
                for p in s.expand_words(w)? {
                    ports.extend(expose(&p)?);
                }
            }
            let map = s.config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in &ports {
                map.insert(p.clone(), berth_image::Empty {});
            }
            meta(b, s, &format!("EXPOSE {}", ports.join(" "))).await
        }
        Kind::Volume(words) => {
            let mut vols = Vec::new();
            for w in words {
                let v = s.expand(w)?;
                if v.trim().is_empty() {
                    return Err(EngineError::invalid("VOLUME specified can not be an empty string"));
                }
                vols.push(v);
            }
            let map = s.config.volumes.get_or_insert_with(BTreeMap::new);
            for v in &vols {
                map.insert(v.clone(), berth_image::Empty {});
            }
            meta(b, s, &format!("VOLUME {}", go_quoted(&vols))).await
        }
        Kind::StopSignal(sig) => {
            let sig = s.expand(sig)?;
            crate::engine::lifecycle::parse_signal(&sig)?;
            s.config.stop_signal = Some(sig.clone());
            meta(b, s, &format!("STOPSIGNAL {sig}")).await
        }
        Kind::Cmd(c) => {
            let cmd = command_of(s, c);
            s.config.cmd = Some(cmd.clone());
            s.cmd_set = true;
            meta(b, s, &format!("CMD {}", go_quoted(&cmd))).await
        }
        Kind::Entrypoint(c) => {
            let ep = command_of(s, c);
            s.config.entrypoint = (!ep.is_empty()).then(|| ep.clone());
            // As Docker: an ENTRYPOINT drops the CMD inherited from the base, not one set here.
            if !s.cmd_set {
                s.config.cmd = None;
            }
            meta(b, s, &format!("ENTRYPOINT {}", go_quoted(&ep))).await
        }
        Kind::Shell(sh) => {
            s.config.shell = Some(sh.clone());
            meta(b, s, &format!("SHELL {}", go_quoted(sh))).await
        }
        Kind::Healthcheck(h) => {
            let hc = health(s, h);
            let text = format!("HEALTHCHECK {}", go_quoted(&hc.test));
            s.config.healthcheck = Some(hc);
            meta(b, s, &text).await
        }
        Kind::Onbuild(inner) => {
            let trigger = onbuild_text(inner);
            s.config.on_build.get_or_insert_with(Vec::new).push(trigger.clone());
            meta(b, s, &format!("ONBUILD {trigger}")).await
        }
        Kind::Maintainer(m) => {
            let m = s.expand(m)?;
            s.author = Some(m.clone());
            meta(b, s, &format!("MAINTAINER {m}")).await
        }
    }
}

/// The trigger as Docker stores it: the instruction after `ONBUILD`, as written.
fn onbuild_text(inner: &Instruction) -> String {
    inner.original.trim().to_string()
}

/// `labels` (the API's) as the build's last step.
pub(super) async fn labels(
    b: &mut Build<'_>,
    s: &mut State,
    labels: BTreeMap<String, String>,
    text: &str,
) -> Result<(), EngineError> {
    labels_into(b, s, labels, text).await
}

async fn labels_into(
    b: &mut Build<'_>,
    s: &mut State,
    labels: BTreeMap<String, String>,
    text: &str,
) -> Result<(), EngineError> {
    s.config.labels.get_or_insert_with(BTreeMap::new).extend(labels);
    meta(b, s, &format!("LABEL {text}")).await
}

async fn arg(b: &mut Build<'_>, s: &mut State, decls: &[ArgDecl]) -> Result<(), EngineError> {
    let mut text = String::from("ARG");
    for a in decls {
        let value = match b.build_arg(&a.name) {
            Some(v) => {
                b.used_args.insert(a.name.clone());
                v
            }
            None => a.default.as_deref().map(|w| s.expand(w)).transpose()?,
        };
        text.push(' ');
        text.push_str(&a.name);
        if let Some(dflt) = &a.default {
            text.push('=');
            text.push_str(dflt);
        }
        s.args.retain(|(k, _)| k != &a.name);
        s.args.push((a.name.clone(), value));
    }
    meta(b, s, &text).await
}

/// A step that changes only the config: `<shell> #(nop)  <text>` in the history, as dockerd.
pub(super) async fn meta(b: &mut Build<'_>, s: &mut State, text: &str) -> Result<(), EngineError> {
    let created_by = format!("{} #(nop)  {text}", s.shell().join(" "));
    let key = step_key(s, &created_by, "");
    if probe(b, s, &key) {
        return Ok(());
    }
    commit(b, s, created_by, &key, None).await
}

/// The cache key of a step: its parent, its history line, what else decides it (COPY's
/// checksums) and the config it leaves.
pub(super) fn step_key(s: &State, created_by: &str, content: &str) -> String {
    let parent = s.image.clone().unwrap_or_default();
    let config_json = serde_json::to_string(&s.config).unwrap_or_default();
    cache::key(&parent, created_by, &format!("{content}\n{config_json}"))
}

/// Takes the step's image from the cache if a build made it before (`Using cache`).
pub(super) fn probe(b: &Build<'_>, s: &mut State, key: &str) -> bool {
    let Some(hit) = b.cache.get(b.d, key) else {
        return false;
    };
    b.out.say(" ---> Using cache\n");
    b.out.say(format!(" ---> {}\n", berth_image::short_id(&hit)));
    s.image = Some(hit);
    true
}

/// Makes the step's image: `layer` (None: no new layer) on top of the state's image with the
/// state's config, and records it under `key`.
pub(super) async fn commit(
    b: &mut Build<'_>,
    s: &mut State,
    created_by: String,
    key: &str,
    layer: Option<berth_image::LayerInfo>,
) -> Result<(), EngineError> {
    let child = ChildImage {
        layer,
        config: s.config.clone(),
        created_by,
        author: s.author.clone(),
        comment: None,
        reference: None,
        container: None,
    };
    let id = create_child(b, s.image.clone(), child).await?;
    b.cache.put(key, &id);
    b.out.say(format!(" ---> {}\n", berth_image::short_id(&id)));
    s.image = Some(id);
    Ok(())
}

pub(super) async fn create_child(
    b: &Build<'_>,
    parent: Option<String>,
    child: ChildImage,
) -> Result<String, EngineError> {
    let images = b.d.images.clone();
    let id = tokio::task::spawn_blocking(move || images.create_child(parent.as_deref(), child)).await??;
    Ok(id)
}

/// A shell form run by the stage's shell, an exec form as given.
pub(super) fn command_of(s: &State, c: &ShellOrExec) -> Vec<String> {
    match c {
        ShellOrExec::Exec(v) => v.clone(),
        ShellOrExec::Shell(text) => {
            let mut v = s.shell();
            v.push(text.clone());
            v
        }
    }
}

fn health(s: &State, h: &Health) -> berth_image::HealthConfig {
    let ns = |d: &Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as i64);
    match h {
        Health::None => berth_image::HealthConfig { test: vec!["NONE".into()], ..Default::default() },
        Health::Check { test, interval, timeout, start_period, start_interval, retries } => {
            let test = match test {
                ShellOrExec::Exec(v) => std::iter::once("CMD".to_string()).chain(v.iter().cloned()).collect(),
                ShellOrExec::Shell(t) => vec!["CMD-SHELL".to_string(), t.clone()],
            };
            let _ = s;
            berth_image::HealthConfig {
                test,
                interval: ns(interval),
                timeout: ns(timeout),
                start_period: ns(start_period),
                start_interval: ns(start_interval),
                retries: retries.map_or(0, i64::from),
            }
        }
    }
}

/// `EXPOSE 80`, `80/udp`, `8000-8002/tcp` as the config's `port/proto` keys.
fn expose(p: &str) -> Result<Vec<String>, EngineError> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(EngineError::invalid(format!("invalid proto: {proto}")));
    }
    let bad = || EngineError::invalid(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, z)) => (a.parse::<u16>().map_err(|_| bad())?, z.parse::<u16>().map_err(|_| bad())?),
        None => {
            let n = ports.parse::<u16>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

/// Go's `%q` of a string slice, as dockerd writes CMD/ENTRYPOINT/VOLUME into history lines.
pub(super) fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_forms() {
        assert_eq!(expose("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expose("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(expose("8000-8002").unwrap(), vec!["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert!(expose("80/xyz").is_err());
        assert!(expose("9-1").is_err());
        assert!(expose("http").is_err());
    }

    #[test]
    fn history_quoting_is_gos() {
        assert_eq!(
            go_quoted(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }
}
