//! What the `filters` of list calls and of `/events` share.

/// Docker's `label` filter: every value must hold (`key` present, or `key=value`), where the
/// other filter keys match when any of their values does.
pub fn labels_match<'a>(labels: impl Fn(&str) -> Option<&'a str>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels(k) == Some(v),
        None => labels(w).is_some(),
    })
}
