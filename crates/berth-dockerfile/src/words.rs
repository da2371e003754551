//! The tokenisers of Docker's parser (`frontend/dockerfile/parser`): they split an
//! instruction's text without expanding anything, so quotes and escapes stay in the words.

/// Docker's `[\t\v\f\r ]+` separator (no newline: lines are already joined).
pub(crate) fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits on runs of separators (Docker's `parseStringsWhitespaceDelimited`); empty pieces
/// cannot occur in Docker's trimmed input, so none are kept.
pub(crate) fn split_ws(text: &str) -> Vec<String> {
    text.split(is_sep).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Splits off the first word: `(word, rest after the separator run)`.
pub(crate) fn split_first(text: &str) -> (&str, &str) {
    match text.find(is_sep) {
        Some(i) => (&text[..i], text[i..].trim_start_matches(is_sep)),
        None => (text, ""),
    }
}

/// Docker's `parseWords`: whitespace-separated words where quoted runs may contain blanks.
/// Quotes and escape characters are kept (they are removed at expansion time); an escape
/// character at the very end is dropped.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut it = rest.chars().peekable();
    while let Some(ch) = it.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                }
                if ch == escape {
                    let Some(next) = it.next() else { continue };
                    word.push(ch);
                    word.push(next);
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                if ch == escape && q != '\'' {
                    let Some(next) = it.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(ch);
                    word.push(next);
                    continue;
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Result of trying the JSON form.
pub(crate) enum Json {
    /// A JSON array of strings.
    Array(Vec<String>),
    /// Not JSON (or not an array): the caller falls back to the shell/word form.
    NotJson,
}

pub(crate) const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// Docker's `parseJSON`: text starting with `[` that decodes as a JSON array. An array holding
/// anything but strings is an error, not a fallback to the shell form.
pub(crate) fn parse_json(rest: &str) -> Result<Json, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(Json::NotJson);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(Json::NotJson);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRING_ARRAY.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

/// Docker's `extractBuilderFlags`: leading `--name[=value]` words, unquoted and unescaped.
/// Returns the flags and the rest of the line (from the first non-flag word). A bare `--` ends
/// the flags.
pub(crate) fn extract_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let bytes: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].1.is_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return (flags, "");
        }
        let starts_flag = bytes[i].1 == '-' && bytes.get(i + 1).map(|b| b.1) == Some('-');
        if !starts_flag {
            return (flags, &line[bytes[i].0..]);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut quoted = false;
        while i < bytes.len() {
            let ch = bytes[i].1;
            if quote.is_none() && ch.is_whitespace() {
                break;
            }
            i += 1;
            match quote {
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    quoted = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => {
                    if let Some(&(_, next)) = bytes.get(i) {
                        word.push(next);
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
                _ => word.push(ch),
            }
        }
        if word == "--" {
            let at = bytes.get(i).map_or(line.len(), |b| b.0);
            return (flags, &line[at..]);
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
    }
}
