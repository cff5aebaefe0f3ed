//! The caller and their current session.

use axum::{Json, extract::State};
use latchkey_core::session::ClientKind;
use serde::Serialize;
use time::OffsetDateTime;

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

#[derive(Serialize)]
pub(crate) struct CurrentSession {
    id: String,
    user_id: String,
    username: String,
    client: ClientKind,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
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
        id: s.id.to_string(),
        user_id: s.user_id.to_string(),
        username: auth.caller.username.to_string(),
        client: s.client,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        ip: s.ip.map(|ip| ip.to_string()),
        user_agent: s.user_agent.clone(),
        csrf_token: (s.client == ClientKind::Web).then(|| s.csrf_token.expose().to_owned()),
    }))
}
