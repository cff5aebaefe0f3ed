//! The caller and their current session.

use axum::{Json, extract::State};
use latchkey_core::session::ClientKind;
use serde::Serialize;
use utoipa::ToSchema;

use super::{openapi::Unauthenticated, sessions::SessionView};
use crate::{error::ApiError, extract::Authenticated, state::AppState};

/// Who is calling.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    /// The user's id.
    pub(crate) user_id: String,
    /// The username.
    pub(crate) username: String,
    /// The session of the request.
    pub(crate) session_id: String,
}

impl From<&Authenticated> for Me {
    fn from(auth: &Authenticated) -> Self {
        Self {
            user_id: auth.caller.user_id.to_string(),
            username: auth.caller.username.to_string(),
            session_id: auth.caller.session_id.to_string(),
        }
    }
}

/// Who is calling.
#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "me",
    tag = "sessions",
    responses(
        (status = 200, description = "The caller.", body = Me),
        (status = 401, response = Unauthenticated),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
)]
pub(crate) async fn me(auth: Authenticated) -> Json<Me> {
    Json(Me::from(&auth))
}

/// The current session: its list entry, its owner, and for browsers the
/// CSRF token.
#[derive(Serialize, ToSchema)]
pub(crate) struct CurrentSession {
    #[serde(flatten)]
    session: SessionView,
    /// The user's id.
    user_id: String,
    /// The username.
    username: String,
    /// Only for browser sessions: apps send no CSRF token.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// The current session.
///
/// Its list entry, its owner, and for browser sessions the CSRF token:
/// how a reloaded page gets it back.
#[utoipa::path(
    get,
    path = "/auth/session",
    operation_id = "current_session",
    tag = "sessions",
    responses(
        (status = 200, description = "The current session.", body = CurrentSession),
        (status = 401, response = Unauthenticated),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
)]
pub(crate) async fn session(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<CurrentSession>, ApiError> {
    let s = state.auth.current_session(&auth.caller).await?;
    Ok(Json(CurrentSession {
        session: SessionView::new(&s, s.id),
        user_id: s.user_id.to_string(),
        username: auth.caller.username.to_string(),
        csrf_token: (s.client == ClientKind::Web).then(|| s.csrf_token.expose().to_owned()),
    }))
}
