//! `container prune`, `image prune`, what `system prune` calls besides them, and `system df`.

use super::body::parse_filters;
use super::error::image_error;
use super::{views, ApiError, AppState};
use crate::model::{Container, Status};
use axum::extract::{Query, State};
use axum::Json;
use berth_api as wire;
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

pub async fn containers(
    State(d): State<AppState>,
    Query(q): Q,
) -> Result<Json<wire::ContainerPruneResponse>, ApiError> {
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
    // `null` when nothing was deleted, as dockerd's nil slice.
    Ok(Json(wire::ContainerPruneResponse {
        containers_deleted: (!deleted.is_empty()).then_some(deleted),
        space_reclaimed: reclaimed as i64,
    }))
}

/// Image ids some container (any state) uses.
fn used_images(d: &AppState) -> std::collections::HashSet<String> {
    d.store.all().iter().map(|e| e.snapshot().image_id).collect()
}

pub async fn images(State(d): State<AppState>, Query(q): Q) -> Result<Json<wire::ImagePruneResponse>, ApiError> {
    let mut filters = parse_filters(q.get("filters"))?;
    check_keys(&filters, &["until", "label", "label!", "dangling"])?;
    // `-a` sends dangling=false: every unused image, not only untagged ones.
    let only_dangling = filters.remove("dangling").is_none_or(|v| !v.iter().any(|x| x == "false" || x == "0"));
    let until = filters.get("until").and_then(|v| v.first()).map(|v| until_nanos(v)).transpose()?;
    let used = used_images(&d);
    let parents = d.images.parents_of_children();
    let mut deleted: Vec<wire::DeleteItem> = Vec::new();
    let mut reclaimed = 0u64;
    for i in d.images.list() {
        if used.contains(&i.id) || (only_dangling && !i.repo_tags.is_empty()) || !labels_match(&i.labels, &filters) {
            continue;
        }
        // Intermediate images go with the image above them (Docker's prune skips them), and
        // an image above them is not taken away from under them.
        if parents.contains(&i.id) {
            continue;
        }
        if until.is_some_and(|u| created_nanos(&i.created) >= u) {
            continue;
        }
        // The parents pruned with it may be used by containers: those are kept.
        let in_use = super::images::container_users(&d);
        match d.images.remove(&i.id, true, &in_use) {
            Ok(items) => {
                reclaimed += i.size;
                for it in items {
                    deleted.push(match it {
                        berth_image::DeleteItem::Untagged(r) => wire::DeleteItem { untagged: Some(r), deleted: None },
                        berth_image::DeleteItem::Deleted(id) => {
                            d.events.emit("image", "delete", &id, Default::default());
                            wire::DeleteItem { untagged: None, deleted: Some(id) }
                        }
                    });
                }
            }
            Err(err) => tracing::warn!(image = %i.id, "prune: {}", image_error(err).message),
        }
    }
    d.events.emit("image", "prune", "", BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]));
    Ok(Json(wire::ImagePruneResponse {
        images_deleted: (!deleted.is_empty()).then_some(deleted),
        space_reclaimed: reclaimed as i64,
    }))
}

/// Berth has no builder: nothing is cached, nothing to prune (`system prune` asks).
pub async fn build_cache() -> Json<wire::BuildCachePruneResponse> {
    // `CachesDeleted` is `null` when nothing was deleted, as dockerd sends it.
    Json(wire::BuildCachePruneResponse { caches_deleted: None, space_reclaimed: 0 })
}

pub async fn df(State(d): State<AppState>) -> Result<Json<wire::SystemDfResponse>, ApiError> {
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
    let image_docs: Vec<wire::ImageSummary> = images
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
            wire::ImageSummary {
                id: i.id.clone(),
                repo_tags: i.repo_tags.clone(),
                repo_digests: i.repo_digests.clone(),
                created: i.created_unix(),
                size: i.size as i64,
                shared_size: shared as i64,
                labels: i.labels.clone(),
                containers: n as i64,
                ..Default::default()
            }
        })
        .collect();
    let (d2, cs) = (d.clone(), containers.clone());
    let sizes: Vec<u64> = tokio::task::spawn_blocking(move || cs.iter().map(|c| rw_size(&d2, c)).collect()).await?;
    let container_docs: Vec<wire::ContainerSummary> = containers
        .iter()
        .zip(sizes)
        .map(|(c, rw)| {
            let image_size = images.iter().find(|i| i.id == c.image_id).map(|i| i.size).unwrap_or(0);
            views::summary(c, Some((rw as i64, (rw + image_size) as i64)), None)
        })
        .collect();
    let vols = d.volumes.list();
    let volume_docs: Vec<wire::Volume> = vols
        .iter()
        .map(|v| {
            let refs = containers
                .iter()
                .filter(|c| c.mounts.iter().any(|m| m.name.as_deref() == Some(v.name.as_str())))
                .count();
            let size = crate::engine::volumes::dir_size(&d.volumes.data_path(&v.name));
            wire::Volume {
                usage_data: Some(wire::VolumeUsageData { size: size as i64, ref_count: refs as i64 }),
                ..super::volumes::view(&d.volumes, v)
            }
        })
        .collect();
    Ok(Json(wire::SystemDfResponse {
        layers_size: layers.values().sum::<u64>() as i64,
        images: Some(image_docs),
        containers: Some(container_docs),
        volumes: Some(volume_docs),
        // Berth has no builder: an empty cache, not an unasked-for (`null`) one.
        build_cache: Some(Vec::new()),
    }))
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
