//! Swarm's routes, answered as a dockerd that is not in a swarm answers them (503), so that clients
//! which probe or tear down swarm state (docker-py's tests call `leave_swarm(force=True)` after
//! every network test) see what they see on dockerd instead of a 404 that they take for an error.
//! Berth has no swarm mode: `init` and `join` are refused by name rather than pretending to act.

use super::{ApiError, AppState};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;

/// dockerd's text for every manager-only route on a node outside a swarm.
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" \
                             to connect this node to swarm and try again.";

pub fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/swarm", get(not_a_manager))
        .route("/swarm/init", post(refused))
        .route("/swarm/join", post(refused))
        .route("/swarm/leave", post(not_in_a_swarm))
        .route("/swarm/update", post(not_a_manager))
        .route("/swarm/unlockkey", get(not_a_manager))
        .route("/swarm/unlock", post(not_a_manager))
        .route("/tasks", get(not_a_manager))
        .route("/tasks/{id}", get(not_a_manager))
        .route("/tasks/{id}/logs", get(not_a_manager));
    for kind in ["nodes", "services", "secrets", "configs"] {
        r = r
            .route(&format!("/{kind}"), get(not_a_manager))
            .route(&format!("/{kind}/{{id}}"), get(not_a_manager).delete(not_a_manager))
            .route(&format!("/{kind}/{{id}}/update"), post(not_a_manager));
        if kind != "nodes" {
            r = r.route(&format!("/{kind}/create"), post(not_a_manager));
        }
    }
    r.route("/services/{id}/logs", get(not_a_manager))
}

fn unavailable(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m)
}

async fn not_a_manager() -> ApiError {
    unavailable(NOT_A_MANAGER)
}

async fn not_in_a_swarm() -> ApiError {
    unavailable("This node is not part of a swarm")
}

async fn refused(method: Method, uri: Uri) -> ApiError {
    unavailable(format!("Berth does not implement swarm mode: {method} {} is refused", uri.path()))
}
