//! Error types. Messages reuse Docker's wording wherever Docker has one, because users
//! paste them into search engines and compare them with what `docker build` prints.

/// A Dockerfile that the classic builder would refuse. `line` is the 1-based line where the
/// offending instruction starts (0 only for a file with no bytes at all).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("dockerfile parse error line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError { line, message: message.into() }
    }
}

/// A word the shell lexer could not expand (bad substitution, `${X:?}` on an unset X, an
/// unterminated quote...).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// A `.dockerignore` pattern that cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct IgnoreError(pub String);
