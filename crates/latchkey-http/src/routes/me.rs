//! The caller and their current session.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use latchkey_core::{service::Caller, session::ClientKind};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::fmt::Hyphenated;

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

impl From<&Caller> for Me {
    fn from(caller: &Caller) -> Self {
        Self {
            user_id: caller.user_id.to_string(),
            username: caller.username.to_string(),
            session_id: caller.session_id.to_string(),
        }
    }
}

/// The caller's ids as text, formatted on the stack.
pub(crate) struct CallerIds {
    user: [u8; Hyphenated::LENGTH],
    session: [u8; Hyphenated::LENGTH],
}

impl CallerIds {
    pub(crate) fn of(caller: &Caller) -> Self {
        let mut ids = Self {
            user: [0; Hyphenated::LENGTH],
            session: [0; Hyphenated::LENGTH],
        };
        caller
            .user_id
            .as_uuid()
            .hyphenated()
            .encode_lower(&mut ids.user);
        caller
            .session_id
            .as_uuid()
            .hyphenated()
            .encode_lower(&mut ids.session);
        ids
    }

    /// The user id: the hyphenated form is ASCII.
    pub(crate) fn user(&self) -> &[u8] {
        &self.user
    }

    /// The session id.
    pub(crate) fn session(&self) -> &[u8] {
        &self.session
    }
}

impl Me {
    /// The `200` answer with `caller` as [`Me`], its JSON written straight
    /// from the caller: `/auth/me` and forward-auth answer this on every
    /// authenticated request, and owned strings plus a serializer run cost
    /// about as much as checking the credential. Only the username needs
    /// escaping, and serde does that.
    pub(crate) fn answer(caller: &Caller, ids: &CallerIds) -> Response {
        let name = caller.username.as_str();
        let mut body = Vec::with_capacity(96 + name.len());
        body.extend_from_slice(br#"{"user_id":""#);
        body.extend_from_slice(ids.user());
        body.extend_from_slice(br#"","username":"#);
        if serde_json::to_writer(&mut body, name).is_err() {
            // Writing to memory does not fail; were it ever to, the
            // general path still answers correctly.
            return Json(Me::from(caller)).into_response();
        }
        body.extend_from_slice(br#","session_id":""#);
        body.extend_from_slice(ids.session());
        body.extend_from_slice(br#""}"#);
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
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
pub(crate) async fn me(auth: Authenticated) -> Response {
    Me::answer(&auth.caller, &CallerIds::of(&auth.caller))
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

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use latchkey_core::{csrf::CsrfToken, user::Username};
    use uuid::Uuid;

    use super::*;

    fn caller(name: &str) -> Caller {
        Caller {
            session_id: Uuid::new_v4().into(),
            user_id: Uuid::new_v4().into(),
            username: Username::parse(name).unwrap(),
            client: ClientKind::Mobile,
            csrf_token: CsrfToken::from_stored("x".into()),
            renewed: None,
            context: Default::default(),
        }
    }

    /// The hand-written answer is byte for byte what serde makes of `Me`,
    /// for names that need escaping too.
    #[tokio::test]
    async fn the_written_answer_is_what_serde_writes() {
        for name in [
            "alice",
            r#"quo"te"#,
            r"back\slash",
            "zoë",
            "日本語",
            "😀'<&>",
        ] {
            let caller = caller(name);
            let response = Me::answer(&caller, &CallerIds::of(&caller));
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = to_bytes(response.into_body(), 4096).await.unwrap();
            let expected = serde_json::to_vec(&Me::from(&caller)).unwrap();
            assert_eq!(body, expected, "{name}");
        }
    }
}
