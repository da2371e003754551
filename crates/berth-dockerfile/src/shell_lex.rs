//! Docker's shell-word lexer (buildkit `frontend/dockerfile/shell`, which moby's classic builder
//! vendors): the subset of POSIX word expansion that Dockerfile instructions get. There is no
//! command substitution, no globbing and no field splitting beyond whitespace in `process_words`.

use crate::error::ExpandError;
use regex::Regex;

/// Environment lookup: `None` means unset (expands to empty).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The lexer; `escape` is `\` or the backtick chosen by `# escape=`.
#[derive(Debug, Clone, Copy)]
pub struct ShellLex {
    pub escape: char,
}

impl ShellLex {
    pub fn new(escape: char) -> Self {
        ShellLex { escape }
    }

    /// One word: quotes removed, variables expanded (Docker's `ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
        self.run(word, env).map(|(s, _)| s)
    }

    /// Splits on unquoted whitespace (including whitespace produced by expanding an unquoted
    /// variable, as Docker does), each word processed (Docker's `ProcessWords`).
    pub fn process_words(&self, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, ExpandError> {
        self.run(text, env).map(|(_, w)| w)
    }

    fn run(&self, text: &str, env: Env<'_>) -> Result<(String, Vec<String>), ExpandError> {
        let mut lexer = Lexer { chars: text.chars().collect(), pos: 0, escape: self.escape, raw_escapes: false, env };
        // Docker names the whole input in every expansion error; keep that so messages match.
        lexer.stop_on(None, false).map_err(|e| ExpandError(format!("failed to process {text:?}: {e}")))
    }
}

/// Accumulates the words of `process_words`. A quoted piece is added "raw" (never split) while
/// an expanded `$VAR` is split on whitespace, which is why two kinds of add exist.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    /// An empty quoted word (`""`) yields no word, as in Docker.
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    /// Keep escape characters in the output: used for `#`/`%`/`/` patterns, where the escape
    /// must survive to the pattern compiler.
    raw_escapes: bool,
    env: Env<'a>,
}

type Res<T> = Result<T, String>;

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end of input when `stop` is `None`.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Res<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                    words.add_str(&v);
                }
                '\'' | '"' => {
                    let v = if ch == '\'' { self.single_quote()? } else { self.double_quote()? };
                    result.push_str(&v);
                    words.add_raw_str(&v);
                }
                // `<<` plus the blanks after it stay glued to the next word: buildkit does this so
                // a heredoc marker (`<< EOF`) is one word. Harmless for the classic builder.
                '<' => {
                    self.next();
                    let mut v = String::from("<");
                    if self.peek() == Some('<') {
                        self.next();
                        v.push('<');
                        while let Some(c @ (' ' | '\t' | '\r')) = self.peek() {
                            self.next();
                            v.push(c);
                        }
                    }
                    result.push_str(&v);
                    words.add_raw_str(&v);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // A lone escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        Ok((result, words.finish()))
    }

    /// Inside single quotes nothing is special, not even the escape character.
    fn single_quote(&mut self) -> Res<String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// Inside double quotes `$` expands and the escape character only escapes `"`, `$` and itself.
    fn double_quote(&mut self) -> Res<String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => ch = self.next().unwrap_or(c),
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        match ch {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(&name, ch),
            '/' => self.replace(&name),
            _ => Err(format!("unsupported modifier ({ch}) in substitution")),
        }
    }

    /// `${name<op>word}` for the POSIX operators; `first` is `:` or the operator itself.
    fn modifier(&mut self, name: &str, first: char) -> Res<String> {
        let null_is_unset = first == ':';
        let op = if null_is_unset { self.next() } else { Some(first) };
        let shown = match (null_is_unset, op) {
            (true, Some(op)) => format!(":{op}"),
            (true, None) => ":".to_string(),
            (false, _) => first.to_string(),
        };
        let pattern_op = matches!(op, Some('#' | '%'));
        if null_is_unset && pattern_op {
            return Err(format!("unsupported modifier ({shown}) in substitution"));
        }
        let word = match self.stop_on(Some('}'), pattern_op) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.lookup(name);
        let empty = value.as_deref().is_none_or(|v| null_is_unset && v.is_empty());
        match op {
            Some('-') => Ok(if empty { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if empty { String::new() } else { word }),
            Some('?') => match value {
                None => Err(format!("{name}: {}", or(word, "is not allowed to be unset"))),
                Some(v) if null_is_unset && v.is_empty() => {
                    Err(format!("{name}: {}", or(word, "is not allowed to be empty")))
                }
                Some(v) => Ok(v),
            },
            Some(c @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                // A doubled operator (`##`, `%%`) asks for the longest match.
                let (greedy, pat) = match word.strip_prefix(c) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                if c == '#' {
                    trim_prefix(&pat, &value, greedy)
                } else {
                    trim_suffix(&pat, &value, greedy)
                }
            }
            _ => Err(format!("unsupported modifier ({shown}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` (first match) and `${name//pattern/replacement}` (all).
    fn replace(&mut self, name: &str) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '/' in ${}".into()),
            Err(e) => return Err(e),
        };
        let replacement = match self.stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.lookup(name).unwrap_or_default();
        let re = shell_pattern(&pattern, true, false)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        if all {
            // Go's ReplaceAllString expands `$1` in the replacement, and so does regex's.
            return Ok(re.replace_all(&value, replacement.as_str()).into_owned());
        }
        Ok(match re.find(&value) {
            Some(m) => format!("{}{}{}", &value[..m.start()], replacement, &value[m.end()..]),
            None => value,
        })
    }

    /// A variable name: letters/digits/`_`, or a run of digits, or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

fn or(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

/// Compiles a shell pattern (`*`, `?`, `\` escapes) into a regex, as buildkit does.
fn shell_pattern(pattern: &str, greedy: bool, anchored: bool) -> Res<Regex> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let mut it = pattern.chars().peekable();
    while let Some(tok) = it.next() {
        match tok {
            '*' => out.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => out.push('.'),
            '\\' => {
                // `\}` and `\/` were only there to get past the lexer's stop characters.
                if matches!(it.peek(), Some('}' | '/')) {
                    continue;
                }
                match it.next() {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    Some(c) => return Err(format!("invalid escape '\\{c}'")),
                    None => return Err("invalid escape '\\'".into()),
                }
            }
            _ => {
                if "[]{}.+()|^$".contains(tok) {
                    out.push('\\');
                }
                out.push(tok);
            }
        }
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Res<String> {
    let re = shell_pattern(pattern, greedy, true)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Suffix trimming is prefix trimming on the reversed value with the reversed pattern (escape
/// pairs kept in order), which is how buildkit gets shortest/longest suffix matches from an
/// anchored-at-start regex.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Res<String> {
    let p: Vec<char> = pattern.chars().collect();
    let mut rev = vec!['\0'; p.len()];
    let last = p.len().saturating_sub(1);
    let mut i = 0;
    while i < p.len() {
        let o = last - i;
        if p[i] == '\\' && i != last {
            rev[o - 1] = '\\';
            rev[o] = p[i + 1];
            i += 2;
        } else {
            rev[o] = p[i];
            i += 1;
        }
    }
    let rev_pattern: String = rev.into_iter().collect();
    let rev_value: String = value.chars().rev().collect();
    Ok(trim_prefix(&rev_pattern, &rev_value, greedy)?.chars().rev().collect())
}

#[cfg(test)]
#[path = "shell_lex_tests.rs"]
mod tests;
