//! The Dockerfile front end of Berth's classic (v1) builder: parsing with the rules of moby's
//! classic builder, the shell-word lexer used to expand arguments at dispatch, and
//! `.dockerignore` matching. Pure functions over strings: reading files is the caller's job.
#![deny(unsafe_code)]

mod ast;
mod duration;
mod error;
mod flags;
mod ignore;
mod instruction;
mod parser;
mod shell_lex;
mod words;

pub use ast::{ArgDecl, CopyArgs, Dockerfile, From, Health, Instruction, Kind, ShellOrExec, Stage};
pub use error::{ExpandError, IgnoreError, ParseError};
pub use ignore::Ignore;
pub use parser::parse;
pub use shell_lex::ShellLex;

/// Go's `time.ParseDuration`, in nanoseconds (negative allowed), with Go's error messages.
/// Exposed for callers that take durations in the same syntax as HEALTHCHECK flags.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    duration::parse_go_duration(text)
}
