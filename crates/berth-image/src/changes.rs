//! Dockerfile-like `changes` of `docker import` / `docker commit` applied to an image config.

use crate::config::{ContainerConfig, Empty};
use crate::error::ImageError;
use std::collections::BTreeMap;

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidInput(msg.into())
}

/// Applies `changes` (one instruction per entry, as the API's repeated `changes=` parameters) to
/// `config`. Every instruction is checked before any is applied, as Docker does.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    let mut lines = Vec::new();
    for change in changes {
        for line in change.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (instr, rest) = match line.find(char::is_whitespace) {
                Some(i) => (&line[..i], line[i..].trim()),
                None => (line, ""),
            };
            if !VALID.contains(&instr.to_ascii_lowercase().as_str()) {
                return Err(invalid(format!("{instr} is not a valid change command")));
            }
            lines.push((instr.to_ascii_lowercase(), instr.to_ascii_uppercase(), rest.to_string()));
        }
    }
    for (instr, upper, rest) in lines {
        apply_one(config, &instr, &upper, &rest)?;
    }
    Ok(())
}

fn apply_one(c: &mut ContainerConfig, instr: &str, upper: &str, rest: &str) -> Result<(), ImageError> {
    let need_arg = || {
        if rest.is_empty() {
            Err(invalid(format!("{upper} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    match instr {
        "cmd" => c.cmd = Some(command_form(rest)),
        "entrypoint" => c.entrypoint = Some(command_form(rest)),
        "env" => {
            need_arg()?;
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in name_values(rest, upper)? {
                let prefix = format!("{k}=");
                let entry = format!("{k}={v}");
                match env.iter_mut().find(|e| e.starts_with(&prefix) || **e == k) {
                    Some(e) => *e = entry,
                    None => env.push(entry),
                }
            }
        }
        "label" => {
            need_arg()?;
            let labels = c.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in name_values(rest, upper)? {
                labels.insert(k, v);
            }
        }
        "expose" => {
            need_arg()?;
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for word in rest.split_whitespace() {
                for p in expand_port(word)? {
                    ports.insert(p, Empty {});
                }
            }
        }
        "volume" => {
            need_arg()?;
            let vols = c.volumes.get_or_insert_with(BTreeMap::new);
            let list = json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
            for v in list {
                let v = v.trim().to_string();
                if v.is_empty() {
                    return Err(invalid("VOLUME specified can not be an empty string"));
                }
                vols.insert(v, Empty {});
            }
        }
        "workdir" => {
            need_arg()?;
            let dir = unquote(rest);
            let joined = if dir.starts_with('/') {
                dir
            } else {
                let base = if c.working_dir.is_empty() { "/" } else { &c.working_dir };
                format!("{}/{}", base.trim_end_matches('/'), dir)
            };
            c.working_dir = clean_path(&joined);
        }
        "user" => {
            need_arg()?;
            c.user = unquote(rest);
        }
        "stopsignal" => {
            need_arg()?;
            c.stop_signal = Some(unquote(rest));
        }
        "onbuild" => {
            need_arg()?;
            c.on_build.get_or_insert_with(Vec::new).push(rest.to_string());
        }
        "healthcheck" => {
            need_arg()?;
            c.healthcheck = Some(crate::healthcheck::parse(rest, json_array)?);
        }
        _ => return Err(invalid(format!("{upper} is not supported in changes by berth"))),
    }
    Ok(())
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(rest).ok()
    } else {
        None
    }
}

/// Exec form (a JSON array) as is; anything else is shell form, run by `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// Splits into shell-like words: quotes group and are removed, backslash escapes the next char.
fn words(s: &str) -> Result<Vec<String>, ImageError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (_, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err(invalid(format!("unexpected end of statement while looking for matching quote in {s:?}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"` pairs, or the legacy `key value with spaces` form.
fn name_values(rest: &str, upper: &str) -> Result<Vec<(String, String)>, ImageError> {
    let ws = words(rest)?;
    let first_has_eq = ws.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (key, value) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => return Err(invalid(format!("{upper} must have two arguments"))),
        };
        return Ok(vec![(key.to_string(), unquote(value))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(invalid(format!("{upper} names can not be blank"))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(invalid(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"))),
        })
        .collect()
}

fn expand_port(word: &str) -> Result<Vec<String>, ImageError> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!("invalid proto: {proto}")));
    }
    let parse = |p: &str| {
        p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| invalid(format!("invalid containerPort: {ports}")))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(invalid(format!("invalid range specified for containerPort: {ports}")));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Lexically cleans an absolute path (`.`/`..`/duplicate slashes), as Go's `filepath.Clean`.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ContainerConfig, ImageError> {
        let mut c = ContainerConfig::default();
        apply_changes(&mut c, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(c)
    }

    #[test]
    fn every_instruction() {
        let c = apply(&[
            "CMD [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "ENTRYPOINT /bin/echo hello world",
            "ENV A=1 B=\"two words\"",
            "env C three words here",
            "ENV A=replaced",
            "WORKDIR /srv",
            "WORKDIR app/../data",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp 8000-8002",
            "LABEL com.example.a=x \"com.example.b\"=\"y z\"",
            "STOPSIGNAL SIGUSR1",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache /tmp2",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/echo hello world"]);
        assert_eq!(c.env.unwrap(), vec!["A=replaced", "B=two words", "C=three words here"]);
        assert_eq!(c.working_dir, "/srv/data");
        assert_eq!(c.user, "nobody:nogroup");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["com.example.a"], "x");
        assert_eq!(labels["com.example.b"], "y z");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGUSR1"));
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, vec!["/cache", "/data", "/logs", "/tmp2"]);
    }

    #[test]
    fn invalid_instruction_uses_dockers_wording_and_applies_nothing() {
        let mut c = ContainerConfig::default();
        let err = apply_changes(&mut c, &["USER x".into(), "RUN echo".into()]).unwrap_err();
        assert!(err.is_invalid_input());
        assert_eq!(err.to_string(), "RUN is not a valid change command");
        assert_eq!(c.user, "", "nothing applied when one change is invalid");
        let err = apply(&["FROM busybox"]).unwrap_err();
        assert_eq!(err.to_string(), "FROM is not a valid change command");
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(apply(&["EXPOSE abc"]).unwrap_err().is_invalid_input());
        assert!(apply(&["EXPOSE 80/xyz"]).unwrap_err().is_invalid_input());
        assert!(apply(&["ENV"]).unwrap_err().is_invalid_input());
        assert!(apply(&["ENV =x"]).unwrap_err().is_invalid_input());
        assert!(apply(&["LABEL a=\"unterminated"]).unwrap_err().is_invalid_input());
        assert!(apply(&["USER"]).unwrap_err().is_invalid_input());
    }
}
