//! Liveness, readiness and metrics.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// The process is up and serving.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its job: the store answers. With a revocation feed,
/// also says whether it is connected: a node without its feed still serves
/// safely (it reads revocations from the store on every request), so that
/// is `degraded`, not unready.
pub(crate) async fn readyz(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.auth.ready().await?;
    Ok(Json(match state.auth.feed_status() {
        None => json!({ "status": "ready" }),
        Some((name, true)) => json!({ "status": "ready", "feed": name, "feed_connected": true }),
        Some((name, false)) => {
            json!({ "status": "degraded", "feed": name, "feed_connected": false })
        }
    }))
}

/// Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
