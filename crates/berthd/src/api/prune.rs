//! `container prune`, `image prune`, what `system prune` calls besides them, and `system df`.

use super::body::parse_filters;
use super::error::image_error;
use super::{ApiError, AppState};
use crate::model::{Container, Status};
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

type Q = Query<HashMap<String, String>>;
type Filters = BTreeMap<String, Vec<String>>;

/// A Go duration (`24h`, `1h30m`, `90s`, `500ms`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek().filter(|n| n.is_ascii_alphabetic()) {
            unit.push(n);
            chars.next();
        }
        let mult = match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * mult;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// `until=`: a timestamp, or a duration before now.
fn until_nanos(v: &str) -> Result<i64, ApiError> {
    if let Some(d) = go_duration(v) {
        return Ok(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) - d);
    }
    crate::logs::parse_time(v)
        .ok_or_else(|| ApiError::bad_request(format!("failed to parse value {v} as a timestamp or a duration")))
}

/// `label=k`, `label=k=v`, and their `label!=` negations.
fn labels_match(labels: &BTreeMap<String, String>, filters: &Filters) -> bool {
    let one = |l: &String| match l.split_once('=') {
        Some((k, v)) => labels.get(k) == Some(&v.to_string()),
        None => labels.contains_key(l),
    };
    filters.get("label").is_none_or(|ls| ls.iter().all(one))
        && filters.get("label!").is_none_or(|ls| !ls.iter().any(one))
}

fn check_keys(filters: &Filters, allowed: &[&str]) -> Result<(), ApiError> {
    match filters.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        None => Ok(()),
    }
}

fn created_nanos(created: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(created).ok().and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0)
}

fn container_labels(c: &Container) -> BTreeMap<String, String> {
    c.config.labels.clone().unwrap_or_default().into_iter().collect()
}

/// Bytes the container wrote into its own layer.
fn rw_size(d: &AppState, c: &Container) -> u64 {
    let upper = d.config().data_root.join("storage").join(&c.options.storage_driver).join(&c.id);
    let dir = if c.options.storage_driver == "overlay2" { upper.join("upper") } else { upper.join("rootfs") };
    crate::engine::volumes::dir_size(&dir)
}

pub async fn containers(State(d): State<AppState>, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    check_keys(&filters, &["until", "label", "label!"])?;
    let until = filters.get("until").and_then(|v| v.first()).map(|v| until_nanos(v)).transpose()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for e in d.store.all() {
        let c = e.snapshot();
        let stopped = matches!(c.state.status, Status::Exited | Status::Created | Status::Dead);
        if !stopped
            || !labels_match(&container_labels(&c), &filters)
            || until.is_some_and(|u| created_nanos(&c.created) >= u)
        {
            continue;
        }
        let size = rw_size(&d, &c);
        match crate::engine::lifecycle::remove(&d, &e, false, false).await {
            Ok(()) => {
                reclaimed += size;
                deleted.push(c.id);
            }
            Err(err) => tracing::warn!(id = %c.short_id(), "prune: {}", err),
        }
    }
    d.events.emit("container", "prune", "", BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]));
    Ok(Json(json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})))
}

/// Image ids some container (any state) uses.
fn used_images(d: &AppState) -> std::collections::HashSet<String> {
    d.store.all().iter().map(|e| e.snapshot().image_id).collect()
}

pub async fn images(State(d): State<AppState>, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let mut filters = parse_filters(q.get("filters"))?;
    check_keys(&filters, &["until", "label", "label!", "dangling"])?;
    // `-a` sends dangling=false: every unused image, not only untagged ones.
    let only_dangling = filters.remove("dangling").is_none_or(|v| !v.iter().any(|x| x == "false" || x == "0"));
    let until = filters.get("until").and_then(|v| v.first()).map(|v| until_nanos(v)).transpose()?;
    let used = used_images(&d);
    let mut deleted: Vec<Value> = Vec::new();
    let mut reclaimed = 0u64;
    for i in d.images.list() {
        if used.contains(&i.id) || (only_dangling && !i.repo_tags.is_empty()) || !labels_match(&i.labels, &filters) {
            continue;
        }
        if until.is_some_and(|u| created_nanos(&i.created) >= u) {
            continue;
        }
        let no_users = |_: &str| Vec::new();
        match d.images.remove(&i.id, true, &no_users) {
            Ok(items) => {
                reclaimed += i.size;
                for it in items {
                    let v = serde_json::to_value(&it).unwrap_or_default();
                    if let Some(id) = v.get("Deleted").and_then(Value::as_str) {
                        d.events.emit("image", "delete", id, Default::default());
                    }
                    deleted.push(v);
                }
            }
            Err(err) => tracing::warn!(image = %i.id, "prune: {}", image_error(err).message),
        }
    }
    d.events.emit("image", "prune", "", BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]));
    Ok(Json(
        json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

/// Berth has no builder: nothing is cached, nothing to prune (`system prune` asks).
pub async fn build_cache() -> Json<Value> {
    Json(json!({"CachesDeleted": [], "SpaceReclaimed": 0}))
}

pub async fn df(State(d): State<AppState>) -> Result<Json<Value>, ApiError> {
    let containers: Vec<Container> = d.store.all().iter().map(|e| e.snapshot()).collect();
    let images = d.images.list();
    let mut layers = std::collections::HashMap::new();
    for i in &images {
        for c in &i.chain_ids {
            if let Ok(l) = d.images.layer(c) {
                layers.insert(c.clone(), l.size);
            }
        }
    }
    let image_docs: Vec<Value> = images
        .iter()
        .map(|i| {
            let n = containers.iter().filter(|c| c.image_id == i.id).count();
            // Layers this image shares with another one.
            let shared: u64 = i
                .chain_ids
                .iter()
                .filter(|c| images.iter().any(|o| o.id != i.id && o.chain_ids.contains(c)))
                .filter_map(|c| layers.get(c))
                .sum();
            json!({
                "Id": i.id, "ParentId": "", "RepoTags": i.repo_tags, "RepoDigests": i.repo_digests, "Created": i.created_unix(),
                "Size": i.size, "SharedSize": shared, "VirtualSize": i.size, "Labels": i.labels, "Containers": n,
            })
        })
        .collect();
    let (d2, cs) = (d.clone(), containers.clone());
    let sizes: Vec<u64> = tokio::task::spawn_blocking(move || cs.iter().map(|c| rw_size(&d2, c)).collect()).await?;
    let container_docs: Vec<Value> = containers
        .iter()
        .zip(sizes)
        .map(|(c, rw)| {
            let image_size = images.iter().find(|i| i.id == c.image_id).map(|i| i.size).unwrap_or(0);
            json!({
                "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.config.image.clone().unwrap_or_default(), "ImageID": c.image_id,
                "Command": std::iter::once(c.path.clone()).chain(c.args.iter().cloned()).collect::<Vec<_>>().join(" "),
                "Created": created_nanos(&c.created) / 1_000_000_000, "State": c.state.seen().docker(), "Status": c.state.seen().docker(),
                "SizeRw": rw, "SizeRootFs": rw + image_size, "Labels": container_labels(c), "Mounts": [],
            })
        })
        .collect();
    let vols = d.volumes.list();
    let volume_docs: Vec<Value> = vols
        .iter()
        .map(|v| {
            let refs = containers
                .iter()
                .filter(|c| c.mounts.iter().any(|m| m.name.as_deref() == Some(v.name.as_str())))
                .count();
            let mut doc = crate::engine::volumes::to_json(&d.volumes, v);
            doc["UsageData"] =
                json!({"Size": crate::engine::volumes::dir_size(&d.volumes.data_path(&v.name)), "RefCount": refs});
            doc
        })
        .collect();
    Ok(Json(json!({
        "LayersSize": layers.values().sum::<u64>(),
        "Images": image_docs,
        "Containers": container_docs,
        "Volumes": volume_docs,
        "BuildCache": [],
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_durations() {
        assert_eq!(super::go_duration("24h"), Some(86_400_000_000_000));
        assert_eq!(super::go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(super::go_duration("500ms"), Some(500_000_000));
        assert_eq!(super::go_duration("2021-01-01"), None);
        assert_eq!(super::go_duration("10"), None);
    }
}
