//! `GET /auth/events`: the caller's security log, newest first.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use latchkey_core::{
    device::device_label,
    event::{DEFAULT_PAGE, EventCursor, EventKind, MAX_PAGE, SecurityEvent},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{
    IntoParams, ToSchema,
    openapi::{ObjectBuilder, Type},
};

use super::openapi::{InvalidRequest, Unauthenticated};
use crate::{error::ApiError, extract::Authenticated, state::AppState};

/// A page of the log; no other query parameter is accepted.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// Events per page, 1 to [`MAX_PAGE`] (100); 20 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One event as its owner sees it.
#[derive(Serialize, ToSchema)]
#[schema(as = SecurityEvent)]
struct EventView {
    /// The event's id.
    id: String,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(schema_with = event_kind)]
    kind: &'static str,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// The session it concerns.
    #[schema(required = true)]
    session_id: Option<String>,
    /// Why, for some types: a revocation's reason (`user`, `admin`,
    /// `theft_detection`, `anomaly`, `password_change`), an anomaly's
    /// (`user_agent_changed`, `ip_changed`), a failed login's.
    #[schema(required = true)]
    reason: Option<String>,
    /// More about it, when there is more.
    #[schema(required = true)]
    detail: Option<String>,
    /// The address of the request that caused it (none for the CLI).
    #[schema(required = true)]
    ip: Option<String>,
    /// The user agent of that request.
    #[schema(required = true)]
    user_agent: Option<String>,
    /// A label for people, such as `Firefox on Linux`.
    device: String,
}

/// The schema of [`EventView::kind`]: every [`EventKind`].
fn event_kind() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(EventKind::ALL.map(EventKind::as_str)))
}

impl From<SecurityEvent> for EventView {
    fn from(e: SecurityEvent) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind.as_str(),
            at: e.at,
            session_id: e.session_id.map(|s| s.to_string()),
            device: device_label(e.user_agent.as_deref()),
            reason: e.reason,
            detail: e.detail,
            ip: e.ip.map(|ip| ip.to_string()),
            user_agent: e.user_agent,
        }
    }
}

/// A page of the caller's security log.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventPage {
    /// Newest first.
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The caller's security log.
///
/// Newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/auth/events",
    operation_id = "list_events",
    tag = "account",
    params(Page),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthenticated),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(page) = page.map_err(|_| {
        ApiError::invalid(format!(
            "query parameters are limit (1 to {MAX_PAGE}) and cursor"
        ))
    })?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = match page.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => {
            Some(EventCursor::decode(text).ok_or_else(|| ApiError::invalid("invalid cursor"))?)
        }
    };
    let (events, next) = state.auth.events(&auth.caller, after, limit).await?;
    Ok(Json(EventPage {
        events: events.into_iter().map(EventView::from).collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}
