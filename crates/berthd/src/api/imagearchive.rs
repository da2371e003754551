//! `docker save`, `docker load` and `docker history`.

use super::body::qbool;
use super::error::image_error;
use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::{ErrorDetail, HistoryItem, ProgressDetail, ProgressMessage};
use berth_image::LoadProgress;
use std::collections::HashMap;

/// `GET /images/{name}/get` and `GET /images/get?names=…`: the archive, streamed as it is
/// written. Every name is resolved first, so an unknown one is a clean 404, not a cut stream.
pub async fn save(d: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images to save"));
    }
    for n in &names {
        d.images.resolve(n).map_err(image_error)?;
    }
    let (w, r) = tokio::io::duplex(256 * 1024);
    let images = d.images.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = images.save(&names, tokio_util::io::SyncIoBridge::new(w)) {
            tracing::warn!("docker save ended early: {err}");
        }
    });
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(r));
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `names` may repeat in the query string.
pub fn names_param(raw_query: &str) -> Vec<String> {
    super::body::form_urlencoded_pairs(raw_query).into_iter().filter(|(k, _)| k == "names").map(|(_, v)| v).collect()
}

pub async fn save_many(State(d): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let names = names_param(req.uri().query().unwrap_or(""));
    save(d, names).await
}

fn progress_bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current * width).checked_div(total).unwrap_or(width).min(width);
    let arrow = if filled < width { ">" } else { "" };
    format!(
        "[{}{}{}] {}/{}",
        "=".repeat(filled as usize),
        arrow,
        " ".repeat((width - filled).saturating_sub(arrow.len() as u64) as usize),
        human(current),
        human(total)
    )
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.3}GB", n as f64 / 1e9),
        n if n >= 1 << 20 => format!("{:.3}MB", n as f64 / 1e6),
        n if n >= 1 << 10 => format!("{:.3}kB", n as f64 / 1e3),
        n => format!("{n}B"),
    }
}

/// `POST /images/load`: JSON messages as the layers go in (bars on a terminal), then
/// `Loaded image: …` per tag; an error mid-way is the stream's last message.
pub async fn load(
    State(d): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let quiet = qbool(q.get("quiet"));
    let stream = futures_util::TryStreamExt::map_err(req.into_body().into_data_stream(), std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ProgressMessage>();
    let d2 = d.clone();
    tokio::task::spawn_blocking(move || {
        let send = |v: ProgressMessage| {
            let _ = tx.send(v);
        };
        let mut on_progress = |p: LoadProgress| match p {
            LoadProgress::Layer(diff_id, current, total) if !quiet => {
                let id = diff_id.trim_start_matches("sha256:")[..12].to_string();
                send(ProgressMessage {
                    id: Some(id),
                    status: Some("Loading layer".into()),
                    progress: Some(progress_bar(current, total)),
                    progress_detail: Some(ProgressDetail {
                        current: current as i64,
                        total: total as i64,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            LoadProgress::Layer(..) => {}
            LoadProgress::Loaded(id, tags) => {
                if tags.is_empty() {
                    send(stream_text(format!("Loaded image ID: {id}\n")));
                }
                for t in &tags {
                    send(stream_text(format!("Loaded image: {t}\n")));
                }
                let mut attrs = std::collections::BTreeMap::new();
                attrs.insert("name".to_string(), tags.first().cloned().unwrap_or_default());
                d2.events.emit("image", "load", &id, attrs);
            }
        };
        let sync = tokio_util::io::SyncIoBridge::new(reader);
        if let Err(err) = d2.images.load(sync, &mut on_progress) {
            send(error_message(err.to_string()));
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], json_lines(rx)).into_response())
}

/// Counts what the import reads and says so every MiB.
struct Progress<R> {
    inner: R,
    read: u64,
    next: u64,
    total: u64,
    tx: tokio::sync::mpsc::UnboundedSender<ProgressMessage>,
}

impl<R: std::io::Read> std::io::Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next || (n == 0 && self.read > 0) {
            // An unknown total (no Content-Length) is 0, which Docker leaves out.
            let detail = ProgressDetail { current: self.read as i64, total: self.total as i64, ..Default::default() };
            let bar = if self.total > 0 { progress_bar(self.read, self.total) } else { human(self.read) };
            let _ = self.tx.send(ProgressMessage {
                status: Some("Importing".into()),
                progress: Some(bar),
                progress_detail: Some(detail),
                ..Default::default()
            });
            self.next = self.read + (1 << 20);
        }
        Ok(n)
    }
}

fn stream_text(text: String) -> ProgressMessage {
    ProgressMessage { stream: Some(text), ..Default::default() }
}

/// The last message of a stream that failed: Docker sends the text twice, `error` for old
/// clients and `errorDetail` for new ones.
pub(super) fn error_message(message: String) -> ProgressMessage {
    ProgressMessage {
        error: Some(message.clone()),
        error_detail: Some(ErrorDetail { code: None, message }),
        ..Default::default()
    }
}

fn json_lines(rx: tokio::sync::mpsc::UnboundedReceiver<ProgressMessage>) -> Body {
    let lines = futures_util::StreamExt::map(tokio_stream::wrappers::UnboundedReceiverStream::new(rx), |v| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.extend_from_slice(b"\r\n");
        Ok::<_, std::io::Error>(bytes::Bytes::from(b))
    });
    Body::from_stream(lines)
}

/// `docker import`: progress while the tarball comes in (bars on a terminal), then the id.
pub fn import_streamed<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    d: AppState,
    reader: R,
    opts: berth_image::ImportOptions,
    reference: Option<String>,
    total: u64,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ProgressMessage>();
    tokio::task::spawn_blocking(move || {
        let counted = Progress {
            inner: tokio_util::io::SyncIoBridge::new(reader),
            read: 0,
            next: 1 << 20,
            total,
            tx: tx.clone(),
        };
        match d.images.import(counted, opts) {
            Ok(id) => {
                let mut attrs = std::collections::BTreeMap::new();
                attrs.insert("name".to_string(), reference.unwrap_or_default());
                d.events.emit("image", "import", &id, attrs);
                let _ = tx.send(ProgressMessage { status: Some(id), ..Default::default() });
            }
            Err(err) => {
                let _ = tx.send(error_message(image_error(err).message));
            }
        }
    });
    ([(header::CONTENT_TYPE, "application/json")], json_lines(rx)).into_response()
}

/// `GET /images/{name}/history`.
pub async fn history(d: &AppState, name: &str) -> Result<Response, ApiError> {
    let items: Vec<HistoryItem> = d
        .images
        .history(name)
        .map_err(image_error)?
        .into_iter()
        .map(|h| HistoryItem {
            id: h.id,
            created: h.created,
            created_by: h.created_by,
            tags: h.tags,
            size: h.size as i64,
            comment: h.comment,
        })
        .collect();
    Ok(Json(items).into_response())
}
