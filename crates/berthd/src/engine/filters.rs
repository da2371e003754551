//! What the `filters` of list calls and of `/events` share.

/// Docker's `label` filter: every value must hold (`key` present, or `key=value`), where the
/// other filter keys match when any of their values does.
pub fn labels_match<'a>(labels: impl Fn(&str) -> Option<&'a str>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels(k) == Some(v),
        None => labels(w).is_some(),
    })
}

/// Docker's `name` filter: each value is a regular expression searched for in the name, with
/// and without its leading `/` (`name=^app2$` and `name=^/app2$` both find `app2`); a value
/// that is no valid expression matches nothing, as in dockerd.
pub struct NamePatterns(Vec<regex::Regex>);

impl NamePatterns {
    pub fn new(values: Option<&Vec<String>>) -> NamePatterns {
        NamePatterns(values.into_iter().flatten().filter_map(|v| regex::Regex::new(v).ok()).collect())
    }

    pub fn any_matches(&self, name: &str) -> bool {
        let bare = name.trim_start_matches('/');
        let slashed = format!("/{bare}");
        self.0.iter().any(|r| r.is_match(bare) || r.is_match(&slashed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_dockerds_regular_expressions() {
        let p = |vals: &[&str]| NamePatterns::new(Some(&vals.iter().map(|s| s.to_string()).collect()));
        assert!(p(&["app"]).any_matches("myapp2"));
        assert!(p(&["^app2$"]).any_matches("app2"));
        assert!(p(&["^/app2$"]).any_matches("app2"));
        assert!(!p(&["^app2$"]).any_matches("app22"));
        assert!(!p(&["(("]).any_matches("(("), "an invalid expression matches nothing");
        assert!(p(&["((", "pp"]).any_matches("app"));
    }
}
