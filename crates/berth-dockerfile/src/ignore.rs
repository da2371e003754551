//! `.dockerignore` with the semantics of `github.com/moby/patternmatcher` (and its `ignorefile`
//! reader), which is what moby uses to filter a build context.

use crate::error::IgnoreError;
use regex::Regex;

/// The patterns of one `.dockerignore`, in file order (order matters: the last match wins).
#[derive(Debug, Clone)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`: re-include what an earlier pattern excluded.
    exception: bool,
    matcher: Matcher,
}

/// patternmatcher avoids the regex engine for the common shapes; the fast paths also define
/// slightly different semantics at the edges (e.g. `**/x` matching `x`), so keep them.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `dir/**`: the text before `**`.
    Prefix(String),
    /// `**/x` or `**x`: the text after `**`.
    Suffix(String),
    Regex(Regex),
}

impl Ignore {
    /// Reads a `.dockerignore`: a `#` in the first column starts a comment, lines are trimmed,
    /// blank lines skipped, each pattern `filepath.Clean`ed with a leading `/` dropped.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        let mut exceptions = false;
        for raw in text.lines() {
            // A comment only when `#` is the very first character: ` #x` is a pattern.
            if raw.starts_with('#') {
                continue;
            }
            let mut line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let exception = line.starts_with('!');
            if exception {
                line = line[1..].trim();
                if line.is_empty() {
                    return Err(IgnoreError("illegal exclusion pattern: \"!\"".into()));
                }
            }
            let mut cleaned = clean(line);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            validate(&cleaned)?;
            exceptions |= exception;
            patterns.push(Pattern { exception, matcher: compile(&cleaned)? });
        }
        Ok(Ignore { patterns, exceptions })
    }

    /// True when `rel_path` (slash-separated, relative to the context root) or one of its parent
    /// directories is matched by the last pattern that concerns it (patternmatcher's
    /// `MatchesOrParentMatches`).
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let parent = dir(rel_path);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            // An exception can only undo an exclusion and an exclusion only applies to what is
            // not yet excluded, so skipping the others changes nothing but saves work.
            if p.exception != excluded {
                continue;
            }
            let mut hit = p.matcher.matches(rel_path);
            if !hit && parent != "." {
                hit = (1..=parent_dirs.len()).any(|i| p.matcher.matches(&parent_dirs[..i].join("/")));
            }
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether any `!` pattern exists: then a walker cannot skip an excluded directory
    /// wholesale, since something below it may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// True when no pattern was given (nothing is ever excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl Matcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            // `**/x` also matches a top-level `x`.
            Matcher::Suffix(s) => path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s),
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

/// Translates a cleaned pattern the way patternmatcher does: `*` and `?` stay within one path
/// element, `**` crosses elements, `[...]` is handed to the regex engine, `\` escapes.
fn compile(pattern: &str) -> Result<Matcher, IgnoreError> {
    #[derive(PartialEq)]
    enum Ty {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut ty = Ty::Exact;
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if ty == Ty::Exact {
                        ty = Ty::Prefix;
                    } else {
                        re.push_str(".*");
                        ty = Ty::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    ty = Ty::Regex;
                }
                // A leading `**` is a suffix match unless a later wildcard needs the regex.
                if first {
                    ty = Ty::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                ty = Ty::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                ty = Ty::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    ty = Ty::Regex;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => {
                re.push(ch);
                ty = Ty::Regex;
            }
            _ => re.push(ch),
        }
        first = false;
    }
    Ok(match ty {
        Ty::Exact => Matcher::Exact(pattern.to_string()),
        Ty::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Ty::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Ty::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).map_err(|e| IgnoreError(format!("invalid pattern {pattern:?}: {e}")))?)
        }
    })
}

/// Go's `filepath.Match` syntax check, which patternmatcher runs on every pattern: character
/// classes must be closed and well formed, and an escape needs something to escape.
fn validate(pattern: &str) -> Result<(), IgnoreError> {
    let bad = || IgnoreError("syntax error in pattern".into());
    let mut it = pattern.chars().peekable();
    // One class member (or range end): `-` and `]` must be escaped there.
    let member = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Result<(), IgnoreError> {
        match it.next() {
            None | Some('-' | ']') => Err(bad()),
            Some('\\') => it.next().map(|_| ()).ok_or_else(bad),
            Some(_) => Ok(()),
        }
    };
    while let Some(ch) = it.next() {
        match ch {
            '\\' => {
                it.next().ok_or_else(bad)?;
            }
            '[' => {
                if it.peek() == Some(&'^') {
                    it.next();
                }
                let mut ranges = 0;
                loop {
                    if it.peek() == Some(&']') && ranges > 0 {
                        it.next();
                        break;
                    }
                    member(&mut it)?;
                    if it.peek() == Some(&'-') {
                        it.next();
                        member(&mut it)?;
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` for slash paths: purely lexical.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `..` above the root is the root; above a relative start it is kept.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: everything before the last slash, cleaned (`.` when there is none).
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".into(),
    }
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
