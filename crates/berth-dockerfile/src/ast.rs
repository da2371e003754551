//! The parsed form of a Dockerfile. Arguments stay raw words (quotes and escapes kept) because
//! Docker expands them only at dispatch time, against the environment of the step.

use std::time::Duration;

/// A whole Dockerfile: parser directives, the ARGs before the first FROM, and the stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// From the `# escape=` directive, default `\`.
    pub escape: char,
    /// `# syntax=`: ignored by the classic builder, kept for messages.
    pub syntax: Option<String>,
    /// ARGs before the first FROM; only these may be used in FROM lines.
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `AS name`, lowercased as Docker does (stage names are case-insensitive).
    pub name: Option<String>,
    pub from: From,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct From {
    /// The raw image word; expanded later with the meta args.
    pub image: String,
    /// `--platform=`, raw.
    pub platform: Option<String>,
    pub line: usize,
    /// What Docker prints after `Step N/M : `.
    pub original: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// What Docker prints after `Step N/M : `: the keyword as written and the rest, with
    /// continuation lines joined (Docker's `node.Original`, trimmed).
    pub original: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Run(ShellOrExec),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Copy(CopyArgs),
    Add(CopyArgs),
    /// Keys/values as raw words; the legacy `ENV k v w` form gives one pair whose value is the
    /// rest of the line.
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Health),
    /// Always a JSON array (Docker refuses the shell form).
    Shell(Vec<String>),
    /// The trigger, parsed; its `original` is the text after `ONBUILD`.
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

/// `["a","b"]` gives `Exec`; anything that is not a JSON array gives `Shell` with the raw text.
#[derive(Debug, Clone, PartialEq)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CopyArgs {
    /// Raw words (JSON form allowed).
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    /// `--chmod`: parsed, but Docker's classic builder refuses it at dispatch ("requires
    /// BuildKit"); the builder decides.
    pub chmod: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArgDecl {
    pub name: String,
    /// Raw word.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [flags] CMD ...`. A flag that was not given (or given empty) is `None`; a
    /// flag given as `0s` is `Some(ZERO)`, which Docker also treats as "use the default".
    Check {
        test: ShellOrExec,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}
