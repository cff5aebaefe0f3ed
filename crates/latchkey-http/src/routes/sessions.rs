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
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Type},
};

use super::openapi::{CsrfFailed, NotFound, Unauthenticated};
use crate::{error::ApiError, extract::Authenticated, state::AppState};

/// A session as its owner sees it, in the list and as "the current one".
/// `ip`, `user_agent` and `device` are where it was last seen (what a user
/// looking for a lost phone needs); `login_*` where it started.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionView {
    /// The session's id: what `DELETE /auth/sessions/{id}` takes.
    id: String,
    /// `web` (cookie) or `mobile` (bearer).
    #[schema(schema_with = client_kind)]
    client: ClientKind,
    /// When it signed in.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// When it was last seen (written at most once a minute).
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    /// When it ends (absolute lifetime from login).
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// The address it was last seen from.
    #[schema(required = true)]
    ip: Option<String>,
    /// The user agent it was last seen with.
    #[schema(required = true)]
    user_agent: Option<String>,
    /// A label for people, such as `Firefox on Linux`.
    device: String,
    /// The address it signed in from.
    #[schema(required = true)]
    login_ip: Option<String>,
    /// The user agent it signed in with.
    #[schema(required = true)]
    login_user_agent: Option<String>,
    /// Whether this is the session of the request.
    current: bool,
}

/// The schema of [`SessionView::client`].
fn client_kind() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["web", "mobile"]))
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

/// List the caller's sessions.
///
/// The caller's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    responses(
        (status = 200, description = "The caller's live sessions.", body = Vec<SessionView>),
        (status = 401, response = Unauthenticated),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
)]
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

/// End one of the caller's sessions.
///
/// Its credential is refused from then on. An id that is malformed,
/// unknown, ended, or someone else's is the same `404`. Ending the current
/// session clears a browser's cookies, as logout does.
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    operation_id = "revoke_session",
    tag = "sessions",
    params(("id" = String, Path, description = "A session id from `GET /auth/sessions`.")),
    responses(
        (status = 204, description = "The session is ended.",
            headers(("Set-Cookie" = String, description = "When the current browser \
                session ended: its cookies, cleared."))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
)]
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
        return Ok(ended(&auth, jar, &state.http.refresh_path));
    }
    count_revocations("user", 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sign out.
///
/// Ends the current session; a browser's cookies are cleared.
#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "logout",
    tag = "sessions",
    responses(
        (status = 204, description = "Signed out.",
            headers(("Set-Cookie" = String, description = "Browsers: the cookies, cleared."))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
    ),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    auth: Authenticated,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    state.auth.logout(&auth.caller).await?;
    count_revocations("logout", 1);
    Ok(ended(&auth, jar, &state.http.refresh_path))
}

/// Sign out everywhere.
///
/// Ends every session of the caller, this one included.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    operation_id = "logout_all",
    tag = "sessions",
    responses(
        (status = 204, description = "Every session is ended.",
            headers(("Set-Cookie" = String, description = "Browsers: the cookies, cleared."))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
    ),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
)]
pub(crate) async fn logout_all(
    State(state): State<AppState>,
    auth: Authenticated,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let n = state.auth.logout_all(&auth.caller).await?;
    count_revocations("logout_all", n);
    Ok(ended(&auth, jar, &state.http.refresh_path))
}

/// 204, and for a browser, the instruction to forget its cookies.
fn ended(auth: &Authenticated, jar: CookieJar, refresh_path: &str) -> Response {
    if auth.by_cookie() {
        let jar = jar
            .add(auth.cookies.cleared_cookie())
            .add(auth.cookies.cleared_refresh_cookie(refresh_path));
        (StatusCode::NO_CONTENT, jar).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn count_revocations(reason: &'static str, n: u64) {
    metrics::counter!("latchkey_revocations_total", "reason" => reason).increment(n);
}
