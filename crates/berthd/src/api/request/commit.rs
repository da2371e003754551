//! `POST /commit`: the query and the optional `Config` body into the engine's `CommitSpec`.

use super::unsupported;
use crate::api::error::ApiError;
use crate::engine::commit::CommitSpec;
use berth_api as wire;

/// The query parameters dockerd reads for a commit.
const PARAMS: &[&str] = &["container", "repo", "tag", "comment", "author", "pause", "changes"];

/// `pairs`: the raw query in order (`changes` repeats); `body`: the decoded body (`null`,
/// nothing and `{}` alike mean the container's own config).
pub fn spec(pairs: Vec<(String, String)>, body: Option<wire::ContainerConfig>) -> Result<CommitSpec, ApiError> {
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !PARAMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("query parameter {k:?} of /commit is not supported by Berth")));
    }
    let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let container = get("container").unwrap_or_default();
    let (repo, tag) = (get("repo").unwrap_or_default(), get("tag").unwrap_or_default());
    // dockerd's RepoTagReference: no repo, no reference; a repo alone is tagged `latest`.
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => None,
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    if reference.as_deref().is_some_and(|r| r.contains('@')) {
        return Err(ApiError::bad_request("cannot import digest reference"));
    }
    // dockerd pauses unless `pause` is given and false ("", 0, no, false, none).
    let pause =
        get("pause").is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none"));
    let config = match body {
        Some(c) => {
            unsupported::refuse_commit(&c)?;
            Some(super::create::container_config(c))
        }
        None => None,
    };
    Ok(CommitSpec {
        container,
        reference,
        comment: get("comment").filter(|s| !s.is_empty()),
        author: get("author").filter(|s| !s.is_empty()),
        changes: pairs.iter().filter(|(k, _)| k == "changes").map(|(_, v)| v.clone()).collect(),
        config,
        pause,
    })
}

#[cfg(test)]
mod tests {
    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn query_and_body() {
        let s = super::spec(
            pairs(&[
                ("container", "c"),
                ("repo", "r"),
                ("changes", "CMD x"),
                ("changes", "EXPOSE 80"),
                ("pause", "False"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!((s.container.as_str(), s.reference.as_deref(), s.pause), ("c", Some("r"), false));
        assert_eq!(s.changes, ["CMD x", "EXPOSE 80"]);
        assert!(super::spec(pairs(&[("container", "c")]), None).unwrap().pause);
        let e = super::spec(pairs(&[("container", "c"), ("squash", "1")]), None).unwrap_err();
        assert!(e.message.contains("\"squash\""), "{}", e.message);
        let body: berth_api::ContainerConfig = serde_json::from_str(r#"{"Hostname": "h"}"#).unwrap();
        let e = super::spec(pairs(&[("container", "c")]), Some(body)).unwrap_err();
        assert!(e.message.contains("Config.Hostname"), "{}", e.message);
        let body: berth_api::ContainerConfig = serde_json::from_str(r#"{"Cmd": ["a"], "Env": null}"#).unwrap();
        let s = super::spec(pairs(&[("container", "c")]), Some(body)).unwrap();
        assert_eq!(s.config.unwrap().cmd, Some(vec!["a".to_string()]));
    }
}
