//! Request bodies, parsed as berth-api's wire types, checked for what Berth does not implement
//! (a 400 naming the field: invariant 10), and turned into the engine's calls with the record's
//! own types. Nothing here touches the daemon: the handlers call these, then the engine.

pub mod commit;
pub mod create;
pub mod exec;
pub mod network;
mod unsupported;
pub mod update;

/// The wire's "unset" zero values as the record's absent ones: the engine reads `None` and a
/// client's `""`, `0` or `false` alike, and the record keeps only what was asked for.
fn text(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

fn number(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

fn flag(v: bool) -> Option<bool> {
    v.then_some(true)
}
