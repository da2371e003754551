//! Builder flags (`--name=value` before an instruction's arguments), checked against what the
//! classic builder accepts. Nothing is silently ignored: a BuildKit-only flag gets Docker's
//! "requires BuildKit" message, anything else "unknown flag".

/// Flags BuildKit knows but the classic builder cannot honour, per instruction.
fn buildkit_only(instruction: &str) -> &'static [&'static str] {
    match instruction {
        "RUN" => &["mount", "network", "security", "device"],
        "COPY" => &["link", "exclude", "parents"],
        "ADD" => &["link", "exclude", "checksum", "keep-git-dir", "unpack"],
        _ => &[],
    }
}

/// The values of the accepted flags given on one instruction.
#[derive(Debug, Default)]
pub(crate) struct Flags(Vec<(String, String)>);

impl Flags {
    /// The value of `--name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

/// Checks `raw` (as extracted, e.g. `--from=build`) against `allowed` for `instruction`
/// (upper case). All flags the classic builder accepts take a value.
pub(crate) fn parse(raw: &[String], instruction: &str, allowed: &[&str]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for arg in raw {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {arg}"));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if !allowed.contains(&name) {
            if buildkit_only(instruction).contains(&name) {
                return Err(format!(
                    "the --{name} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
                ));
            }
            return Err(format!("unknown flag: --{name}"));
        }
        if flags.0.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate flag specified: --{name}"));
        }
        let Some(value) = value else {
            return Err(format!("missing a value on flag: --{name}"));
        };
        flags.0.push((name.to_string(), value.to_string()));
    }
    Ok(flags)
}
