//! Least-privilege API sockets: a socket's role decides which routes it serves.
//!
//! The check is a layer of the router, so it runs once the router has chosen the route and
//! before its handler: it judges the route the router picked (its pattern, `MatchedPath`) and the
//! method, never a second parse of the path. Whatever spelling a client tries (a version prefix,
//! doubled or trailing slashes, percent-encoding, `HEAD` for `GET`, a lower-case method), the
//! request either reaches a route this table names for the role or is refused before any
//! handler: what matches no route (the fallback) and any method other than GET or HEAD is
//! refused too. The one route whose meaning depends on its captured path
//! (`/images/{*rest}`: inspect, history or save) is judged on the same decoded capture and the
//! same parse its handler uses.

use super::images::{parse_image_get, ImageGet};
use super::ApiError;
pub use crate::listen::Role;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The routes a read-only socket serves (GET, and HEAD which the router answers with them), by
/// their pattern in `api::router`. Deliberately absent: `/containers/{id}/archive` (GET and
/// HEAD: `docker cp` out and its stat), `/containers/{id}/export` and `/images/get` (whole file
/// systems and images, with whatever keys and data are in them), `/images/search` (makes the
/// daemon reach out), `/containers/{id}/wait` (a POST; `events` tells the same).
const READ_ONLY_ROUTES: &[&str] = &[
    "/_ping",
    "/version",
    "/info",
    "/events",
    "/system/df",
    "/images/json",
    "/containers/json",
    "/containers/{id}/json",
    "/containers/{id}/logs",
    "/containers/{id}/top",
    "/containers/{id}/stats",
    "/containers/{id}/changes",
    "/exec/{id}/json",
    "/volumes",
    "/volumes/{name}",
    "/networks",
    "/networks/{id}",
];

/// Whether `role` serves `method` on the route `pattern` (None: no route matched). `image` is
/// the capture of `/images/{*rest}`, decoded as its handler gets it.
pub fn allows(role: Role, method: &Method, pattern: Option<&str>, image: Option<&str>) -> bool {
    match role {
        Role::Full => true,
        Role::ReadOnly => {
            let (Some(pattern), true) = (pattern, method == Method::GET || method == Method::HEAD) else {
                return false;
            };
            if pattern == "/images/{*rest}" {
                return matches!(image.and_then(parse_image_get), Some(ImageGet::Inspect(_) | ImageGet::History(_)));
            }
            READ_ONLY_ROUTES.contains(&pattern)
        }
    }
}

const DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// The layer: refuses with 403 and Docker's error body what the socket's role does not serve.
pub async fn enforce(State(role): State<Role>, req: Request, next: Next) -> Response {
    let pattern = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let (mut parts, body) = req.into_parts();
    let image = match pattern.as_deref() {
        Some("/images/{*rest}") => Path::<String>::from_request_parts(&mut parts, &()).await.ok().map(|p| p.0),
        _ => None,
    };
    if allows(role, &parts.method, pattern.as_deref(), image.as_deref()) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    tracing::info!(role = role.name(), method = %parts.method, path = parts.uri.path(), "request refused by the socket's role");
    // A client still sending a small body (a JSON `create`) would see its connection reset by
    // the answer instead of reading it: take in a little of it, bounded in size and time, and
    // drop it. A large body (cp in, load) is cut off as it is.
    let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_BYTES)).await;
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("this API socket is {}: {} {} is not allowed on it", role.name(), parts.method, parts.uri.path()),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_serves_reads_and_nothing_else() {
        let ro = |m: Method, p: Option<&str>, img: Option<&str>| allows(Role::ReadOnly, &m, p, img);
        assert!(ro(Method::GET, Some("/containers/json"), None));
        assert!(ro(Method::HEAD, Some("/_ping"), None));
        assert!(!ro(Method::POST, Some("/containers/json"), None), "only GET and HEAD");
        assert!(!ro(Method::from_bytes(b"get").unwrap(), Some("/containers/json"), None), "methods are case-sensitive");
        assert!(!ro(Method::GET, None, None), "no route, no answer");
        for p in ["/containers/{id}/archive", "/containers/{id}/export", "/images/get", "/images/search"] {
            assert!(!ro(Method::GET, Some(p), None), "{p}");
            assert!(!ro(Method::HEAD, Some(p), None), "HEAD {p}");
        }
        assert!(ro(Method::GET, Some("/images/{*rest}"), Some("busybox/json")));
        assert!(ro(Method::GET, Some("/images/{*rest}"), Some("reg:5000/a/b/history")));
        assert!(!ro(Method::GET, Some("/images/{*rest}"), Some("busybox/get")), "save hands out the image");
        assert!(!ro(Method::GET, Some("/images/{*rest}"), None));
        assert!(allows(Role::Full, &Method::DELETE, None, None));
        assert!(Role::parse("admin").unwrap_err().contains("full, read-only"));
    }
}
