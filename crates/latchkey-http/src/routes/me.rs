//! The caller and their current session.

use axum::{Json, extract::State};
use latchkey_core::session::ClientKind;
use serde::Serialize;

use super::sessions::SessionView;
use crate::{error::ApiError, extract::Authenticated, state::AppState};

#[derive(Serialize)]
pub(crate) struct Me {
    pub(crate) user_id: String,
    pub(crate) username: String,
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

pub(crate) async fn me(auth: Authenticated) -> Json<Me> {
    Json(Me::from(&auth))
}

/// The current session: its list entry, its owner, and for browsers the
/// CSRF token.
#[derive(Serialize)]
pub(crate) struct CurrentSession {
    #[serde(flatten)]
    session: SessionView,
    user_id: String,
    username: String,
    /// Only for browser sessions: apps send no CSRF token.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// `GET /auth/session`: how a reloaded page gets its CSRF token back.
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
