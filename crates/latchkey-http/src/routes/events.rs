//! `GET /auth/events`: the caller's security log, newest first.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use latchkey_core::{
    device::device_label,
    event::{DEFAULT_PAGE, EventCursor, MAX_PAGE, SecurityEvent},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{error::ApiError, extract::Authenticated, state::AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    /// Events per page, 1 to [`MAX_PAGE`].
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One event as its owner sees it.
#[derive(Serialize)]
struct EventView {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    session_id: Option<String>,
    reason: Option<String>,
    detail: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    device: String,
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

#[derive(Serialize)]
pub(crate) struct EventPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    next_cursor: Option<String>,
}

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
