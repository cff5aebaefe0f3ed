//! The caller's sessions: list them, end one, end this one, end them all.

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use latchkey_core::{
    device::device_label,
    ids::SessionId,
    session::{ClientKind, Session},
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{error::ApiError, extract::Authenticated, state::AppState};

/// A session as its owner sees it, in the list and as "the current one".
/// `ip`, `user_agent` and `device` are where it was last seen (what a user
/// looking for a lost phone needs); `login_*` where it started.
#[derive(Serialize)]
pub(crate) struct SessionView {
    id: String,
    client: ClientKind,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    device: String,
    login_ip: Option<String>,
    login_user_agent: Option<String>,
    current: bool,
}

impl SessionView {
    pub(crate) fn new(s: &Session, current: SessionId) -> Self {
        let last_agent = s.last_user_agent.as_ref().or(s.user_agent.as_ref());
        Self {
            current: s.id == current,
            id: s.id.to_string(),
            client: s.client,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.last_ip.or(s.ip).map(|ip| ip.to_string()),
            user_agent: last_agent.cloned(),
            device: device_label(last_agent.map(String::as_str)),
            login_ip: s.ip.map(|ip| ip.to_string()),
            login_user_agent: s.user_agent.clone(),
        }
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.auth.sessions(&auth.caller).await?;
    let current = auth.caller.session_id;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionView::new(s, current))
            .collect(),
    ))
}

/// `DELETE /auth/sessions/{id}`. An id that is malformed, unknown, ended,
/// or someone else's is the same 404.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id: SessionId = id
        .ok()
        .and_then(|Path(id)| id.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    state.auth.revoke_session(&auth.caller, id).await?;
    if id == auth.caller.session_id {
        count_revocations("logout", 1);
        return Ok(ended(&auth, jar));
    }
    count_revocations("user", 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    auth: Authenticated,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    state.auth.logout(&auth.caller).await?;
    count_revocations("logout", 1);
    Ok(ended(&auth, jar))
}

pub(crate) async fn logout_all(
    State(state): State<AppState>,
    auth: Authenticated,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let n = state.auth.logout_all(&auth.caller).await?;
    count_revocations("logout_all", n);
    Ok(ended(&auth, jar))
}

/// 204, and for a browser, the instruction to forget its cookies.
fn ended(auth: &Authenticated, jar: CookieJar) -> Response {
    if auth.by_cookie() {
        let jar = jar
            .add(auth.cookies.cleared_cookie())
            .add(auth.cookies.cleared_refresh_cookie());
        (StatusCode::NO_CONTENT, jar).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn count_revocations(reason: &'static str, n: u64) {
    metrics::counter!("latchkey_revocations_total", "reason" => reason).increment(n);
}
