//! Stages run in order up to the target, each from its base image (`FROM`), its steps numbered
//! as dockerd numbers them ("Step 3/7 : …", every instruction of every stage built counted, FROMs
//! included), its build args scoped as Docker scopes them.

use super::cache::Cache;
use super::context::Context;
use super::dispatch;
use super::{BuildSpec, Out};
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;
use berth_dockerfile::{Dockerfile, ShellLex};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The shell of shell-form commands when no `SHELL` was given.
pub(super) const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build args every build may pass without an `ARG` (Docker's predefined proxy args); they reach
/// RUN steps but never the image's history or cache key.
pub(super) const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// One stage as it is being built.
pub(super) struct State {
    /// The image so far; `None` for `FROM scratch` before its first step.
    pub image: Option<String>,
    pub config: berth_image::ContainerConfig,
    /// `ARG`s declared in this stage, in order, with their values.
    pub args: Vec<(String, Option<String>)>,
    /// A `CMD` was given in this stage (an `ENTRYPOINT` after it keeps it).
    pub cmd_set: bool,
    pub author: Option<String>,
    pub lex: ShellLex,
}

impl State {
    pub fn shell(&self) -> Vec<String> {
        match &self.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// What `$VAR` means in this stage: the image's ENV over the stage's build args.
    pub fn lookup(&self, name: &str) -> Option<String> {
        for kv in self.config.env.iter().flatten() {
            if let Some(v) = kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_string());
            }
        }
        self.args.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.clone())
    }

    pub fn expand(&self, word: &str) -> Result<String, EngineError> {
        self.lex.process_word(word, &|n| self.lookup(n)).map_err(|e| EngineError::invalid(e.to_string()))
    }

    pub fn expand_words(&self, text: &str) -> Result<Vec<String>, EngineError> {
        self.lex.process_words(text, &|n| self.lookup(n)).map_err(|e| EngineError::invalid(e.to_string()))
    }
}

/// Everything a step needs besides its stage.
pub(super) struct Build<'a> {
    pub d: &'a Arc<Daemon>,
    pub spec: &'a BuildSpec,
    pub ctx: &'a Context,
    pub out: &'a Out,
    pub cache: Cache,
    /// Build args an `ARG` (or a proxy name) consumed.
    pub used_args: BTreeSet<String>,
    /// Finished stages: (name, image).
    pub stages: Vec<(Option<String>, Option<String>)>,
}

impl Build<'_> {
    /// The value a build arg was given, `null` meaning the daemon's environment (as dockerd).
    pub fn build_arg(&self, name: &str) -> Option<Option<String>> {
        self.spec.build_args.get(name).map(|v| v.clone().or_else(|| std::env::var(name).ok()))
    }
}

fn target_index(df: &Dockerfile, target: Option<&str>) -> Result<usize, EngineError> {
    match target.filter(|t| !t.is_empty()) {
        None => Ok(df.stages.len() - 1),
        Some(t) => {
            let t = t.to_lowercase();
            df.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.as_str()))
                .ok_or_else(|| EngineError::invalid(format!("failed to reach build target {t} in Dockerfile")))
        }
    }
}

pub(super) async fn run_all(
    d: &Arc<Daemon>,
    spec: &BuildSpec,
    ctx: &Context,
    df: Dockerfile,
    out: &Out,
) -> Result<String, EngineError> {
    if df.stages.is_empty() {
        return Err(EngineError::invalid("the Dockerfile (Dockerfile) cannot be empty"));
    }
    let last = target_index(&df, spec.target.as_deref())?;
    let stages = &df.stages[..=last];
    let extra_label_step = usize::from(!spec.labels.is_empty());
    let total: usize = stages.iter().map(|s| 1 + s.instructions.len()).sum::<usize>() + extra_label_step;
    let (d2, no_cache, from) = (d.clone(), spec.no_cache, spec.cache_from.clone());
    let cache = tokio::task::spawn_blocking(move || Cache::open(&d2, no_cache, &from)).await?;
    let mut b = Build { d, spec, ctx, out, cache, used_args: BTreeSet::new(), stages: Vec::new() };
    let lex = ShellLex::new(df.escape);
    let meta = meta_args(&b, &df, &lex)?;
    b.used_args.extend(df.meta_args.iter().map(|a| a.name.clone()));
    let mut step = 0;
    let mut image = None;
    for (i, st) in stages.iter().enumerate() {
        step += 1;
        out.say(format!("Step {step}/{total} : {}", st.from.original));
        out.say("\n");
        let mut state = dispatch::from(&mut b, &st.from, &meta, &lex).await?;
        for ins in &st.instructions {
            step += 1;
            out.say(format!("Step {step}/{total} : {}", ins.original));
            out.say("\n");
            let t = std::time::Instant::now();
            dispatch::step(&mut b, &mut state, ins).await?;
            tracing::debug!(step, ms = t.elapsed().as_millis() as u64, "build step done");
        }
        if i == last && extra_label_step == 1 {
            step += 1;
            let text =
                spec.labels.iter().map(|(k, v)| format!("{}={}", quote(k), quote(v))).collect::<Vec<_>>().join(" ");
            out.say(format!("Step {step}/{total} : LABEL {text}"));
            out.say("\n");
            dispatch::labels(&mut b, &mut state, spec.labels.clone(), &text).await?;
        }
        b.stages.push((st.name.clone(), state.image.clone()));
        image = state.image;
    }
    let unused: Vec<&String> =
        spec.build_args.keys().filter(|k| !b.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str())).collect();
    if !unused.is_empty() {
        let names = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        out.say(format!("[Warning] One or more build-args [{names}] were not consumed\n"));
    }
    image.ok_or_else(|| EngineError::invalid("No image was generated. Is your Dockerfile empty?"))
}

/// ARGs before the first FROM: usable in FROM lines, and as defaults of a stage's own `ARG x`.
fn meta_args(b: &Build<'_>, df: &Dockerfile, lex: &ShellLex) -> Result<BTreeMap<String, Option<String>>, EngineError> {
    let mut meta: BTreeMap<String, Option<String>> = BTreeMap::new();
    for a in &df.meta_args {
        let value = match b.build_arg(&a.name) {
            Some(v) => v,
            None => match &a.default {
                Some(w) => Some(
                    lex.process_word(w, &|n| meta.get(n).cloned().flatten())
                        .map_err(|e| EngineError::invalid(e.to_string()))?,
                ),
                None => None,
            },
        };
        meta.insert(a.name.clone(), value);
    }
    Ok(meta)
}

/// A label key or value as Docker's `LABEL` line from the API's `labels` shows it.
fn quote(s: &str) -> String {
    if s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '=') || s.is_empty() {
        format!("{s:?}")
    } else {
        s.to_string()
    }
}
