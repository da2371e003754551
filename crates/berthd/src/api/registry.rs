//! `docker pull`, `docker push`, `docker login` and `docker search`, over `berth-registry`.
//! Progress goes out as Docker's JSON messages, so the CLI draws its per-layer bars. A pull that
//! fails before its first layer (no such image, refused credentials) is an HTTP error, as with
//! dockerd; later failures end the stream with an error message.

use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use berth_api::{AuthConfig, AuthResponse, ProgressDetail, ProgressMessage};
use berth_registry::{Credentials, Event, RegistryError};
use std::collections::HashMap;
use std::sync::Arc;

fn options(d: &AppState) -> berth_registry::Options {
    d.registry_options()
}

fn decode_auth(raw: &str) -> Credentials {
    let engines = [
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::STANDARD,
    ];
    // A header that does not decode is no credentials, as before: the registry then says
    // whether it needs some.
    let a: AuthConfig = engines
        .iter()
        .find_map(|e| e.decode(raw.trim()).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    creds_of(a)
}

fn creds_of(a: AuthConfig) -> Credentials {
    Credentials { username: a.username, password: a.password, identity_token: a.identity_token }
}

fn creds(headers: &HeaderMap) -> Credentials {
    headers.get("X-Registry-Auth").and_then(|h| h.to_str().ok()).map(decode_auth).unwrap_or_default()
}

fn api_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::NotFound(m) => ApiError::not_found(m),
        RegistryError::Reference(m) => ApiError::bad_request(m),
        RegistryError::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
        other => ApiError::internal(other.to_string()),
    }
}

fn bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current * width).checked_div(total).unwrap_or(0).min(width);
    let mb = |n: u64| format!("{:.2}MB", n as f64 / 1e6);
    format!("[{}>{}] {}/{}", "=".repeat(filled as usize), " ".repeat((width - filled) as usize), mb(current), mb(total))
}

fn message(ev: &Event, tag: &str) -> ProgressMessage {
    let status = |s: &str| ProgressMessage { status: Some(s.to_string()), ..Default::default() };
    match ev {
        Event::Status(s) if s.starts_with("Pulling from ") => {
            ProgressMessage { id: Some(tag.to_string()), ..status(s) }
        }
        Event::Status(s) => status(s),
        Event::Layer { id, status: s, current, total } if *total > 0 && *current > 0 => ProgressMessage {
            id: Some(id.clone()),
            progress: Some(bar(*current, *total)),
            progress_detail: Some(ProgressDetail {
                current: *current as i64,
                total: *total as i64,
                ..Default::default()
            }),
            ..status(s)
        },
        // A layer not under way yet: `"progressDetail": {}`, as dockerd sends.
        Event::Layer { id, status: s, .. } => {
            ProgressMessage { id: Some(id.clone()), progress_detail: Some(ProgressDetail::default()), ..status(s) }
        }
    }
}

fn line(v: &ProgressMessage) -> bytes::Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    b.into()
}

/// Runs `job`, relaying its events; answers with an HTTP error if it fails before its first
/// layer event, with a stream otherwise.
async fn relay<T: Send + 'static>(
    job: impl FnOnce(Arc<dyn Fn(Event) + Send + Sync>) -> tokio::task::JoinHandle<Result<T, RegistryError>>,
    tag: String,
    done: impl FnOnce(&T) + Send + 'static,
) -> Result<Response, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let handle = job(Arc::new(move |e| {
        let _ = tx.send(e);
    }));
    let mut early = Vec::new();
    let mut handle = Some(handle);
    let mut closed = false;
    // Hold the first messages back until a layer shows up or the job ends (its result decides:
    // the channel closing first says nothing).
    loop {
        tokio::select! {
            ev = rx.recv(), if !closed => match ev {
                Some(ev) => {
                    let is_layer = matches!(ev, Event::Layer { .. });
                    early.push(ev);
                    if is_layer { break; }
                }
                None => closed = true,
            },
            res = handle.as_mut().expect("handle"), if handle.is_some() => {
                match res.map_err(|e| ApiError::internal(e.to_string()))? {
                    Err(e) => return Err(api_error(e)),
                    Ok(v) => {
                        done(&v);
                        while let Ok(ev) = rx.try_recv() { early.push(ev); }
                        let body: Vec<u8> = early.iter().flat_map(|e| line(&message(e, &tag)).to_vec()).collect();
                        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
                    }
                }
            }
        }
    }
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    for e in &early {
        let _ = out_tx.send(line(&message(e, &tag)));
    }
    tokio::spawn(async move {
        let fwd_tag = tag.clone();
        let fwd_tx = out_tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let _ = fwd_tx.send(line(&message(&ev, &fwd_tag)));
            }
        });
        let res = match handle {
            Some(h) => h.await.map_err(|e| RegistryError::Other(e.to_string())).and_then(|r| r),
            None => Err(RegistryError::Other("the job ended twice".into())),
        };
        let _ = forward.await;
        match res {
            Ok(v) => done(&v),
            Err(e) => {
                let _ = out_tx.send(line(&super::imagearchive::error_message(e.to_string())));
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::map(
        tokio_stream::wrappers::UnboundedReceiverStream::new(out_rx),
        Ok::<_, std::io::Error>,
    ));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// An image event's attributes: the name it was pulled or pushed as.
fn name_attr(name: String) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([("name".to_string(), name)])
}

/// `POST /images/create?fromImage=…&tag=…&platform=…`.
pub async fn pull(d: AppState, q: &HashMap<String, String>, headers: &HeaderMap) -> Result<Response, ApiError> {
    let image = q.get("fromImage").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let name = if image.contains('@') || tag.is_empty() {
        image.clone()
    } else if tag.contains(':') {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    let shown_tag = if tag.is_empty() { "latest".to_string() } else { tag };
    let denied_name = image.clone();
    let platform = q.get("platform").cloned().filter(|p| !p.is_empty());
    // Refused before the stream starts: an error inside a 200 stream is one docker-py never raises.
    if let Some(p) = &platform {
        berth_registry::check_platform(p).map_err(ApiError::bad_request)?;
    }
    let (creds, opts, store) = (creds(headers), options(&d), d.images.clone());
    let d2 = d.clone();
    let job_name = name.clone();
    relay(
        move |ev| {
            tokio::spawn(async move {
                let ev2 = ev.clone();
                berth_registry::pull(store, &opts, &job_name, platform.as_deref(), &creds, &move |e| ev2(e)).await
            })
        },
        shown_tag,
        move |p: &berth_registry::Pulled| {
            d2.events.emit("image", "pull", &p.id, name_attr(p.tag.clone().unwrap_or(name)))
        },
    )
    .await
    // As dockerd: refused credentials are a "not found" with a hint, never a 401, which would
    // make the CLI prompt for a password.
    .map_err(|e| {
        if e.status == StatusCode::UNAUTHORIZED {
            ApiError::not_found(format!(
                "pull access denied for {denied_name}, repository does not exist or may require 'docker login': {}",
                e.message
            ))
        } else {
            e
        }
    })
}

/// `POST /images/{name}/push?tag=…`.
pub async fn push(
    d: AppState,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let full = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let resolved = d
        .images
        .resolve(&full)
        .map_err(|_| ApiError::not_found(format!("An image does not exist locally with the tag: {name}")))?;
    let (creds, opts, store) = (creds(headers), options(&d), d.images.clone());
    let d2 = d.clone();
    let job_name = full.clone();
    relay(
        move |ev| {
            tokio::spawn(async move {
                let ev2 = ev.clone();
                berth_registry::push(store, &opts, &job_name, &creds, &move |e| ev2(e)).await
            })
        },
        String::new(),
        move |_p: &berth_registry::Pushed| d2.events.emit("image", "push", &resolved.id, name_attr(full)),
    )
    .await
    // A 401 would make the CLI prompt for a password; dockerd reports it as a failed push.
    .map_err(|e| if e.status == StatusCode::UNAUTHORIZED { ApiError::internal(e.message) } else { e })
}

/// `POST /auth` (`docker login`): the registry is asked whether it takes these credentials.
pub async fn login(State(d): State<AppState>, req: Request) -> Result<Json<AuthResponse>, ApiError> {
    let body =
        axum::body::to_bytes(req.into_body(), 1 << 20).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let a: AuthConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let server = a.server_address.clone();
    berth_registry::check_login(&options(&d), &server, &creds_of(a)).await.map_err(|e| match e {
        RegistryError::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
        other => api_error(other),
    })?;
    // The registry's refresh token is not asked for, so there is none to hand back.
    Ok(Json(AuthResponse { status: "Login Succeeded".into(), identity_token: String::new() }))
}

/// `GET /images/search`: Berth does not search registries.
pub async fn search(Query(q): Query<HashMap<String, String>>) -> ApiError {
    let term = q.get("term").cloned().unwrap_or_default();
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("searching registries is not supported by Berth (term {term:?}): browse the registry instead"),
    )
}
