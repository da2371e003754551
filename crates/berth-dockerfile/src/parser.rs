//! From text to logical lines (parser directives, comments, continuations) and from logical
//! lines to stages, following moby's classic builder (`frontend/dockerfile/parser` plus
//! `instructions.Parse`).

use crate::ast::{Dockerfile, Kind, Stage};
use crate::error::ParseError;
use crate::instruction::{parse_line, Parsed};

/// Parses a Dockerfile as the classic builder does. Arguments are left unexpanded.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError::new(0, "the Dockerfile (Dockerfile) cannot be empty"));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Docker strips any run of `\r`/`\n` at a line's end, so CRLF (and stray CRs) are accepted.
    let lines: Vec<&str> = text.split_inclusive('\n').map(|l| l.trim_end_matches(['\r', '\n'])).collect();

    let mut directives = Directives::default();
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim_start();
        i += 1;
        let start = i;
        directives.check(first).map_err(|m| ParseError::new(start, m))?;
        if is_comment(first) {
            continue;
        }
        let escape = directives.escape;
        let (text, mut ended) = trim_continuation(first, escape);
        // A blank line, or nothing but whitespace.
        if ended && text.is_empty() {
            continue;
        }
        let mut buf = text.to_string();
        while !ended && i < lines.len() {
            let next = lines[i];
            i += 1;
            // Comments and blank lines inside a continued instruction are dropped, without
            // ending it (Docker warns about the blank ones; they are not an error yet).
            if is_comment(next) || next.trim_start().is_empty() {
                continue;
            }
            let (text, e) = trim_continuation(next, escape);
            buf.push_str(text);
            ended = e;
        }
        logical.push((start, buf));
    }
    if logical.is_empty() {
        return Err(ParseError::new(lines.len().max(1), "file with no instructions"));
    }

    let mut file =
        Dockerfile { escape: directives.escape, syntax: directives.syntax, meta_args: Vec::new(), stages: Vec::new() };
    for (line, text) in logical {
        let parsed = parse_line(&text, line, file.escape).map_err(|m| ParseError::new(line, m))?;
        match parsed {
            Parsed::From { from, name } => file.stages.push(Stage { name, from, instructions: Vec::new() }),
            Parsed::Instruction(ins) => match (file.stages.last_mut(), ins.kind) {
                (Some(stage), kind) => stage.instructions.push(crate::ast::Instruction { kind, ..ins }),
                // Only ARG may come before the first FROM; those ARGs are the meta args.
                (None, Kind::Arg(decls)) => file.meta_args.extend(decls),
                (None, _) => return Err(ParseError::new(line, "no build stage in current context")),
            },
        }
    }
    Ok(file)
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Docker's continuation rule: the escape character, then only blanks/tabs, at the end of the
/// line, not itself escaped (`\\` at the end is a literal backslash). Returns the line without
/// it and whether the instruction ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

/// Parser directives: `# name=value` comment lines at the very top. The first line that is not
/// one (an instruction, a blank line, any other comment) ends the directive section.
struct Directives {
    done: bool,
    escape: char,
    syntax: Option<String>,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { done: false, escape: '\\', syntax: None, seen: Vec::new() }
    }
}

impl Directives {
    fn check(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => match value {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                _ => return Err(format!("invalid escape token '{value}' does not match ` or \\")),
            },
            "syntax" => self.syntax = Some(value.to_string()),
            // `check` configures BuildKit's linter: nothing to do for the classic builder.
            _ => {}
        }
        Ok(())
    }
}

/// `#` then `name = value` with a known name (syntax, escape, check); the name lowercased.
fn directive(line: &str) -> Option<(String, &str)> {
    let body = line.strip_prefix('#')?.trim_start();
    let name_end = body.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(body.len());
    let name = &body[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = body[name_end..].trim_start().strip_prefix('=')?.trim();
    let name = name.to_ascii_lowercase();
    if value.is_empty() || !matches!(name.as_str(), "syntax" | "escape" | "check") {
        return None;
    }
    Some((name, value))
}
