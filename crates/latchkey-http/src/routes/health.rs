//! Liveness, readiness and metrics.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Type},
};

use super::openapi::Unavailable;
use crate::{error::ApiError, state::AppState};

/// Liveness.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(schema_with = ok)]
    status: &'static str,
}

/// The schema of [`Health::status`].
fn ok() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ok"]))
}

/// Readiness.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`, or `degraded` while the revocation feed is down (the node
    /// still serves correctly, reading revocations from the store).
    #[schema(schema_with = ready)]
    status: &'static str,
    /// The revocation feed between nodes, when there is one: `postgres`
    /// or `redis`.
    #[serde(skip_serializing_if = "Option::is_none")]
    feed: Option<&'static str>,
    /// Whether that feed is connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    feed_connected: Option<bool>,
}

/// The schema of [`Readiness::status`].
fn ready() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ready", "degraded"]))
}

/// Liveness.
///
/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "Serving.", body = Health)),
    security(()),
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness.
///
/// The process can do its job: the store answers. With a revocation feed,
/// also says whether it is connected: a node without its feed still serves
/// safely (it reads revocations from the store on every request), so that
/// is `degraded`, not unready.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready (or degraded, but serving).", body = Readiness),
        (status = 503, response = Unavailable),
    ),
    security(()),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    state.auth.ready().await?;
    let (feed, connected) = state.auth.feed_status().unzip();
    Ok(Json(Readiness {
        status: if connected == Some(false) {
            "degraded"
        } else {
            "ready"
        },
        feed,
        feed_connected: connected,
    }))
}

/// Prometheus metrics.
///
/// The text exposition format, version 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
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
