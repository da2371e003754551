//! One logical line (continuations already joined) to one instruction, with the argument rules
//! and error messages of Docker's parser and `instructions` package.

use crate::ast::{ArgDecl, CopyArgs, From, Health, Instruction, Kind, ShellOrExec};
use crate::duration::parse_go_duration;
use crate::flags;
use crate::words::{extract_flags, parse_json, parse_words, split_first, split_ws, Json};
use regex::Regex;
use std::sync::OnceLock;
use std::time::Duration;

/// A parsed line: a stage start, or an instruction that belongs to a stage (or, for ARG, may
/// precede all stages).
#[derive(Debug)]
pub(crate) enum Parsed {
    From { from: From, name: Option<String> },
    Instruction(Instruction),
}

/// Parses one logical line starting at `line`. The error is the bare message.
pub(crate) fn parse_line(text: &str, line: usize, escape: char) -> Result<Parsed, String> {
    let trimmed = text.trim();
    let original = trimmed.to_string();
    let (keyword, after) = split_first(trimmed);
    let (raw_flags, rest) = extract_flags(after, escape);
    let rest = rest.trim();
    let upper = keyword.to_ascii_uppercase();
    let p = Line { keyword: &upper, raw_flags: &raw_flags, rest };
    let kind = match upper.as_str() {
        "FROM" => return p.from(line, original),
        "RUN" | "CMD" | "ENTRYPOINT" => {
            p.flags(&[])?;
            let cmd = match maybe_json(rest)? {
                // ENTRYPOINT with no arguments clears the entrypoint in Docker; RUN/CMD keep an
                // (empty) shell form.
                None if upper == "ENTRYPOINT" => ShellOrExec::Exec(Vec::new()),
                None => ShellOrExec::Shell(String::new()),
                Some(cmd) => cmd,
            };
            match upper.as_str() {
                "RUN" => Kind::Run(cmd),
                "CMD" => Kind::Cmd(cmd),
                _ => Kind::Entrypoint(cmd),
            }
        }
        "COPY" | "ADD" => p.copy()?,
        "ENV" => {
            p.flags(&[])?;
            Kind::Env(name_values(rest, "ENV", escape)?)
        }
        "LABEL" => {
            p.flags(&[])?;
            Kind::Label(name_values(rest, "LABEL", escape)?)
        }
        "ARG" => {
            p.flags(&[])?;
            Kind::Arg(args(rest, escape)?)
        }
        "WORKDIR" => Kind::Workdir(p.one_arg()?),
        "USER" => Kind::User(p.one_arg()?),
        "STOPSIGNAL" => Kind::StopSignal(p.one_arg()?),
        "MAINTAINER" => Kind::Maintainer(p.one_arg()?),
        "EXPOSE" => {
            let ports = split_ws(rest);
            if ports.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            p.flags(&[])?;
            Kind::Expose(ports)
        }
        "VOLUME" => {
            let vols = json_or_words(rest)?;
            if vols.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            p.flags(&[])?;
            let vols: Vec<String> = vols.iter().map(|v| v.trim().to_string()).collect();
            if vols.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Kind::Volume(vols)
        }
        "SHELL" => {
            p.flags(&[])?;
            match parse_json(rest)? {
                Json::Array(v) if v.is_empty() => return Err(at_least_one("SHELL")),
                Json::Array(v) => Kind::Shell(v),
                Json::NotJson if rest.is_empty() => return Err(at_least_one("SHELL")),
                Json::NotJson => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "HEALTHCHECK" => Kind::Healthcheck(p.healthcheck()?),
        "ONBUILD" => {
            if rest.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            p.flags(&[])?;
            let trigger = split_first(rest).0.to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            // Docker only checks the trigger when a child image is built; checking it now
            // reports a broken trigger while its author is still looking.
            match parse_line(rest, line, escape)? {
                Parsed::Instruction(inner) => Kind::Onbuild(Box::new(inner)),
                Parsed::From { .. } => unreachable!("FROM refused above"),
            }
        }
        _ => return Err(format!("unknown instruction: {keyword}")),
    };
    Ok(Parsed::Instruction(Instruction { line, original, kind }))
}

/// The pieces of a line an instruction parser needs.
struct Line<'a> {
    keyword: &'a str,
    raw_flags: &'a [String],
    rest: &'a str,
}

impl Line<'_> {
    fn flags(&self, allowed: &[&str]) -> Result<flags::Flags, String> {
        flags::parse(self.raw_flags, self.keyword, allowed)
    }

    /// WORKDIR, USER, STOPSIGNAL, MAINTAINER: Docker takes the whole rest of the line as the
    /// one argument (so `USER a b` is the user `a b`); only an empty line is refused.
    fn one_arg(&self) -> Result<String, String> {
        if self.rest.is_empty() {
            return Err(format!("{} requires exactly one argument", self.keyword));
        }
        self.flags(&[])?;
        Ok(self.rest.to_string())
    }

    fn from(&self, line: usize, original: String) -> Result<Parsed, String> {
        let args = split_ws(self.rest);
        let name = match args.as_slice() {
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                let lower = name.to_lowercase();
                static VALID: OnceLock<Regex> = OnceLock::new();
                let valid = VALID.get_or_init(|| Regex::new("^[a-z][a-z0-9-_.]*$").expect("static regex"));
                if !valid.is_match(&lower) {
                    return Err(format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ));
                }
                Some(lower)
            }
            [_] => None,
            _ => return Err("FROM requires either one or three arguments".into()),
        };
        let flags = self.flags(&["platform"])?;
        let from = From { image: args[0].clone(), platform: flags.get("platform"), line, original };
        Ok(Parsed::From { from, name })
    }

    fn copy(&self) -> Result<Kind, String> {
        let mut args = json_or_words(self.rest)?;
        if args.len() < 2 {
            return Err(format!(
                "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                self.keyword
            ));
        }
        let is_copy = self.keyword == "COPY";
        let flags = self.flags(if is_copy { &["from", "chown", "chmod"] } else { &["chown", "chmod"] })?;
        let dest = args.pop().unwrap_or_default();
        let c = CopyArgs {
            sources: args,
            dest,
            from: flags.get("from"),
            chown: flags.get("chown"),
            chmod: flags.get("chmod"),
        };
        Ok(if is_copy { Kind::Copy(c) } else { Kind::Add(c) })
    }

    fn healthcheck(&self) -> Result<Health, String> {
        let (typ, cmd_text) = match self.rest.find(char::is_whitespace) {
            Some(i) => (&self.rest[..i], self.rest[i..].trim_start()),
            None => (self.rest, ""),
        };
        if typ.is_empty() {
            return Err(at_least_one("HEALTHCHECK"));
        }
        let cmd = maybe_json(cmd_text)?;
        let typ = typ.to_ascii_uppercase();
        let flags = self.flags(&["interval", "timeout", "start-period", "start-interval", "retries"])?;
        if typ == "NONE" {
            // Docker ignores the duration flags here; they are harmless, so accept them too.
            if cmd.is_some() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            return Ok(Health::None);
        }
        if typ != "CMD" {
            return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
        }
        let test = match cmd {
            None => return Err("Missing command after HEALTHCHECK CMD".into()),
            Some(ShellOrExec::Exec(v)) if v.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
            Some(test) => test,
        };
        let interval = |name: &str| -> Result<Option<Duration>, String> {
            let Some(v) = flags.get(name).filter(|v| !v.is_empty()) else { return Ok(None) };
            let ns = parse_go_duration(&v)?;
            if ns != 0 && ns < 1_000_000 {
                return Err(format!("Interval {name:?} cannot be less than 1ms"));
            }
            Ok(Some(Duration::from_nanos(ns as u64)))
        };
        let retries = match flags.get("retries").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let n: i32 = v.parse().map_err(|e: std::num::ParseIntError| {
                    let why = match e.kind() {
                        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                            "value out of range"
                        }
                        _ => "invalid syntax",
                    };
                    format!("strconv.ParseInt: parsing {v:?}: {why}")
                })?;
                if n < 0 {
                    return Err(format!("--retries cannot be negative ({n})"));
                }
                Some(n as u32)
            }
        };
        Ok(Health::Check {
            test,
            interval: interval("interval")?,
            timeout: interval("timeout")?,
            start_period: interval("start-period")?,
            start_interval: interval("start-interval")?,
            retries,
        })
    }
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

/// RUN/CMD/ENTRYPOINT/HEALTHCHECK CMD: exec form if the text is a JSON array of strings, else
/// the raw text as the shell form. `None` when there is no text at all.
fn maybe_json(rest: &str) -> Result<Option<ShellOrExec>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    Ok(Some(match parse_json(rest)? {
        Json::Array(v) => ShellOrExec::Exec(v),
        Json::NotJson => ShellOrExec::Shell(rest.to_string()),
    }))
}

/// COPY/ADD/VOLUME: a JSON array, or whitespace-separated words.
fn json_or_words(rest: &str) -> Result<Vec<String>, String> {
    Ok(match parse_json(rest)? {
        Json::Array(v) => v,
        Json::NotJson => split_ws(rest),
    })
}

/// ENV and LABEL: `k=v k2="v 2"` pairs, or the legacy `k value with spaces` (one pair, the
/// value being the raw rest of the line).
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(at_least_one(keyword));
    };
    if !first.contains('=') {
        let (key, value) = split_first(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    let mut pairs = Vec::with_capacity(words.len());
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"));
        };
        pairs.push((k.to_string(), v.to_string()));
    }
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(format!("{keyword} names can not be blank"));
    }
    Ok(pairs)
}

/// ARG: `name` or `name=default`, several per line.
fn args(rest: &str, escape: char) -> Result<Vec<ArgDecl>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(at_least_one("ARG"));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((k, v)) => Ok(ArgDecl { name: k.to_string(), default: Some(v.to_string()) }),
            None => Ok(ArgDecl { name: w, default: None }),
        })
        .collect()
}
