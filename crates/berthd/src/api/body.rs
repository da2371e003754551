//! JSON bodies with Docker's error shape: a malformed body is a 400 `{"message": ...}`, never an
//! axum plain-text rejection.

use super::ApiError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// Bodies of JSON requests (create, update, network…) larger than this are refused.
const MAX_JSON_BODY: usize = 64 << 20;

/// Like `axum::Json`, but tolerant of a missing Content-Type (docker-py and curl users omit it) and
/// answering Docker-shaped errors. An empty body is `T::default()`-like only where the caller says.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let _ = state;
        // Read whole (up to a generous bound) so an oversized value gets a JSON answer after its
        // body, instead of a connection closed under a client still writing.
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|e| ApiError::bad_request(format!("failed to read request body: {e}")))?;
        let bytes =
            if bytes.iter().all(|b| b.is_ascii_whitespace()) { axum::body::Bytes::from_static(b"{}") } else { bytes };
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }
}

/// Docker's boolean query values: 1/true/True → true, 0/false/"" → false.
pub fn qbool(v: Option<&String>) -> bool {
    matches!(v.map(|s| s.to_ascii_lowercase()).as_deref(), Some("1") | Some("true") | Some("yes"))
}

/// Docker's `filters` query parameter: JSON `{"key": ["v", ...]}` or the old `{"key": {"v": true}}`.
pub fn parse_filters(raw: Option<&String>) -> Result<std::collections::BTreeMap<String, Vec<String>>, ApiError> {
    let mut out = std::collections::BTreeMap::new();
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(out);
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = v.as_object().ok_or_else(|| ApiError::bad_request("invalid filter: expected an object"))?;
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// The pairs of a raw query string in order, repeated keys kept (`changes`, `names`).
pub(crate) fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

pub(crate) fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request body as a blocking `Read` for `spawn_blocking` work, read ahead by a task of its
/// own: the connection keeps receiving while the consumer works, instead of waiting for each
/// chunk to be asked for (a thread hand-off per chunk cost a 50 MB build context ~100 ms).
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl BodyReader {
    pub fn new(body: axum::body::Body) -> BodyReader {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                if tx.send(chunk.map_err(std::io::Error::other)).await.is_err() {
                    break;
                }
            }
        });
        BodyReader { rx, cur: bytes::Bytes::new() }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}
