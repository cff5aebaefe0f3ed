//! The caller and their current session.

use std::{ops::Range, sync::Arc};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, header},
    response::Response,
};
use foldhash::quality::RandomState;
use latchkey_core::{
    ids::{SessionId, UserId},
    service::Caller,
    session::ClientKind,
    user::Username,
};
use quick_cache::{UnitWeighter, sync::Cache};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::{Uuid, fmt::Hyphenated};

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

/// The `200` answer with the caller as [`Me`], written straight from the
/// caller once per session and kept in [`Answers`]: `/auth/me` and
/// forward-auth answer this on every authenticated request, and owned
/// strings plus a serializer run, every time, cost about as much as
/// checking the credential. Forward-auth's `X-Auth-*` header values are
/// slices of the same bytes, so answering is a few reference counts.
pub(crate) struct MeAnswer {
    json: Bytes,
    /// `X-Auth-User-Id`, `X-Auth-Username` and `X-Auth-Session-Id`.
    /// Ids are hyphenated hex and usernames printable text (checked at
    /// registration), so these are always there; `None` rather than a
    /// panic if one ever were not.
    pub(crate) user_id: Option<HeaderValue>,
    pub(crate) username: Option<HeaderValue>,
    pub(crate) session_id: Option<HeaderValue>,
    /// Whom it names, to tell whether it still names the caller.
    of: (UserId, Username),
}

/// Headers the answer will carry once the middleware has added its own,
/// with room for forward-auth's: room made once, not grown twice.
const ANSWER_HEADERS: usize = 12;

impl MeAnswer {
    pub(crate) fn of(caller: &Caller) -> Self {
        let name = caller.username.as_str();
        let mut json = Vec::with_capacity(96 + name.len());
        json.extend_from_slice(br#"{"user_id":""#);
        let user_id = push_uuid(&mut json, caller.user_id.as_uuid());
        json.extend_from_slice(br#"","username":""#);
        let start = json.len();
        let plain = push_escaped(&mut json, name);
        let username = plain.then_some(start..json.len());
        json.extend_from_slice(br#"","session_id":""#);
        let session_id = push_uuid(&mut json, caller.session_id.as_uuid());
        json.extend_from_slice(br#""}"#);
        let json = Bytes::from(json);
        let header = |range: Range<usize>| HeaderValue::from_maybe_shared(json.slice(range)).ok();
        Self {
            user_id: header(user_id),
            // A slice of the JSON unless JSON escaped it.
            username: match username {
                Some(range) => header(range),
                None => HeaderValue::from_bytes(name.as_bytes()).ok(),
            },
            session_id: header(session_id),
            of: (caller.user_id, caller.username.clone()),
            json,
        }
    }

    /// The `200` response with the JSON body.
    pub(crate) fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.json.clone()));
        let headers = response.headers_mut();
        headers.reserve(ANSWER_HEADERS);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    /// Whether it is the answer for `caller`, whose session it was made
    /// for: a session's user never changes, its username might.
    fn names(&self, caller: &Caller) -> bool {
        self.of.0 == caller.user_id && self.of.1 == caller.username
    }
}

/// The answers made lately, by session: a session's requests keep asking
/// the same. Bounded (an entry is about 400 bytes, so ≤ ~7 MB), and
/// holding nothing secret: only what the answer shows its own caller.
pub(crate) struct Answers(Cache<SessionId, Arc<MeAnswer>, UnitWeighter, RandomState>);

impl Answers {
    const CAPACITY: usize = 16_384;

    pub(crate) fn new() -> Self {
        Self(Cache::with(
            Self::CAPACITY,
            Self::CAPACITY as u64,
            UnitWeighter,
            RandomState::default(),
            Default::default(),
        ))
    }

    /// The answer for `caller`: the kept one while it names them.
    pub(crate) fn of(&self, caller: &Caller) -> Arc<MeAnswer> {
        if let Some(answer) = self.0.get(&caller.session_id)
            && answer.names(caller)
        {
            return answer;
        }
        let answer = Arc::new(MeAnswer::of(caller));
        self.0.insert(caller.session_id, answer.clone());
        answer
    }
}

/// Appends `id` in its hyphenated form and says where it went.
fn push_uuid(out: &mut Vec<u8>, id: Uuid) -> Range<usize> {
    let start = out.len();
    let mut text = [0; Hyphenated::LENGTH];
    out.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
    start..out.len()
}

/// Appends `text` as the inside of a JSON string, escaped as serde_json
/// escapes it (RFC 8259: `"`, `\` and the control characters); says
/// whether it went in unchanged.
fn push_escaped(out: &mut Vec<u8>, text: &str) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if !text.bytes().any(needs_escape) {
        out.extend_from_slice(text.as_bytes());
        return true;
    }
    for b in text.bytes() {
        match b {
            b'"' => out.extend_from_slice(br#"\""#),
            b'\\' => out.extend_from_slice(br"\\"),
            b'\n' => out.extend_from_slice(br"\n"),
            b'\r' => out.extend_from_slice(br"\r"),
            b'\t' => out.extend_from_slice(br"\t"),
            0x08 => out.extend_from_slice(br"\b"),
            0x0c => out.extend_from_slice(br"\f"),
            b if b < 0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            b => out.push(b),
        }
    }
    false
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
pub(crate) async fn me(State(state): State<AppState>, auth: Authenticated) -> Response {
    state.answers.of(&auth.caller).response()
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
    use latchkey_core::csrf::CsrfToken;
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
            let answer = MeAnswer::of(&caller);
            // The headers are the fields' own text, escaped or not.
            assert_eq!(
                answer.user_id.as_ref().unwrap(),
                caller.user_id.to_string().as_str()
            );
            assert_eq!(
                answer.session_id.as_ref().unwrap(),
                caller.session_id.to_string().as_str()
            );
            assert_eq!(
                answer.username.as_ref().unwrap().as_bytes(),
                name.as_bytes()
            );
            let response = answer.response();
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = to_bytes(response.into_body(), 4096).await.unwrap();
            let expected = serde_json::to_vec(&Me::from(&caller)).unwrap();
            assert_eq!(body, expected, "{name}");
        }
    }

    /// A session's answer is made once, and made again when it would
    /// name someone else.
    #[test]
    fn answers_are_kept_per_session_while_they_name_the_caller() {
        let answers = Answers::new();
        let alice = caller("alice");
        let first = answers.of(&alice);
        assert!(Arc::ptr_eq(&first, &answers.of(&alice.clone())));
        let renamed = Caller {
            username: Username::parse("alicia").unwrap(),
            ..alice.clone()
        };
        let second = answers.of(&renamed);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.username.as_ref().unwrap(), "alicia");
        let other = Caller {
            user_id: Uuid::new_v4().into(),
            ..renamed.clone()
        };
        assert_eq!(
            answers.of(&other).user_id.as_ref().unwrap(),
            other.user_id.to_string().as_str()
        );
        // Another session of the same user has its own.
        let bob = caller("bob");
        assert_eq!(answers.of(&bob).username.as_ref().unwrap(), "bob");
        assert_eq!(answers.of(&renamed).username.as_ref().unwrap(), "alicia");
    }

    /// The escaping is serde_json's for every character a JSON string
    /// must escape, not only those a username may hold.
    #[test]
    fn escaping_matches_serde_for_every_control_character() {
        let mut all: String = (0u8..0x20).map(char::from).collect();
        all.push_str("\"\\\u{7f}é/");
        for text in [all.as_str(), "plain", ""] {
            let mut out = Vec::new();
            let plain = push_escaped(&mut out, text);
            let expected = serde_json::to_string(text).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected[1..expected.len() - 1]
            );
            assert_eq!(plain, expected.len() == text.len() + 2);
        }
    }
}
