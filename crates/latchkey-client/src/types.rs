//! The contract's request and response bodies.
//!
//! Response types are `#[non_exhaustive]` and ignore fields they do not
//! know, so a newer server does not break an older client; fields the
//! contract does not fix (README extras) are optional.

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Tokens;

/// A new account (`POST /auth/register`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Registered {
    /// The user's id.
    pub id: String,
    /// The username as stored (trimmed and NFC-normalized).
    pub username: String,
}

/// Who the session belongs to (`GET /auth/me`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Me {
    /// The user's id.
    pub user_id: String,
    /// The username.
    pub username: String,
    /// This session's id, as [`Session::id`] lists it.
    pub session_id: String,
}

/// One of the user's live sessions (`GET /auth/sessions`): a device to
/// show in an account screen and to sign out with
/// [`Client::revoke_session`](crate::Client::revoke_session).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The session's id.
    pub id: String,
    /// `web` or `mobile`.
    #[serde(default)]
    pub client: Option<String>,
    /// When it signed in.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last seen (at most once a minute; at refreshes in the
    /// short-token strategies).
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// When it ends at the latest.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The address it was last seen from.
    pub ip: Option<IpAddr>,
    /// The user agent it was last seen with.
    pub user_agent: Option<String>,
    /// A label such as `Firefox on Linux` or `mytool/1.2`.
    #[serde(default)]
    pub device: Option<String>,
    /// The address it signed in from.
    #[serde(default)]
    pub login_ip: Option<IpAddr>,
    /// The user agent it signed in with.
    #[serde(default)]
    pub login_user_agent: Option<String>,
    /// Whether this is the session of the client that asked.
    pub current: bool,
}

/// One entry of the user's security log (`GET /auth/events`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SecurityEvent {
    /// The event's id.
    pub id: String,
    /// `login_succeeded`, `login_failed`, `logout`, `session_revoked`,
    /// `refresh_reuse_detected`, `anomaly_detected`, `password_changed`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The session it concerns.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Why, where the event has a reason (`user`, `theft_detection`, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// More detail, where there is some.
    #[serde(default)]
    pub detail: Option<String>,
    /// The address of the request that caused it.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// The user agent of the request that caused it.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// A label for that user agent.
    #[serde(default)]
    pub device: Option<String>,
}

/// A page of the security log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EventPage {
    /// The events.
    pub events: Vec<SecurityEvent>,
    /// Pass to [`Client::events`](crate::Client::events) for the next,
    /// older page; `None` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Credentials<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
}

#[derive(Serialize)]
pub(crate) struct MobileLogin<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
    pub(crate) client: &'static str,
}

#[derive(Serialize)]
pub(crate) struct RefreshRequest<'a> {
    pub(crate) refresh_token: &'a str,
}

#[derive(Serialize)]
pub(crate) struct PasswordChange<'a> {
    pub(crate) current_password: &'a str,
    pub(crate) new_password: &'a str,
}

/// A mobile login or refresh answer:
/// `{access_token, token_type: "Bearer", expires_in, refresh_token?}`.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
}

impl TokenResponse {
    /// The tokens, or `None` if they are not bearer tokens.
    pub(crate) fn into_tokens(self) -> Option<Tokens> {
        if !self.token_type.eq_ignore_ascii_case("bearer") || self.access_token.is_empty() {
            return None;
        }
        let expires_in = self
            .expires_in
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        Some(Tokens::new(
            self.access_token,
            self.refresh_token,
            expires_in,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_as_the_server_lists_it() {
        let s: Session = serde_json::from_str(
            r#"{"id":"s1","client":"mobile","created_at":"2026-11-29T15:04:05.123Z",
                "last_seen_at":"2026-11-29T15:04:05Z","expires_at":"2026-12-29T15:04:05Z",
                "ip":"203.0.113.7","user_agent":"mytool/1.0","device":"mytool/1.0",
                "login_ip":"::1","login_user_agent":null,"current":true,"new_field":1}"#,
        )
        .unwrap();
        assert!(s.current);
        assert_eq!(s.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(s.login_ip, Some("::1".parse().unwrap()));
        // Only the contract's fields are required.
        let bare: Session = serde_json::from_str(
            r#"{"id":"s1","created_at":"2026-11-29T15:04:05Z","last_seen_at":"2026-11-29T15:04:05Z",
                "ip":null,"user_agent":null,"current":false}"#,
        )
        .unwrap();
        assert_eq!((bare.expires_at, bare.device), (None, None));
    }

    #[test]
    fn an_event_page() {
        let page: EventPage = serde_json::from_str(
            r#"{"events":[{"id":"e","type":"session_revoked","at":"2026-11-29T15:04:05.123Z",
                "session_id":"s","reason":"user","detail":null,"ip":"203.0.113.7",
                "user_agent":"Mozilla/5.0","device":"Firefox on Linux"}],"next_cursor":null}"#,
        )
        .unwrap();
        assert_eq!(page.events[0].kind, "session_revoked");
        assert_eq!(page.events[0].reason.as_deref(), Some("user"));
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn token_responses_become_tokens() {
        let r: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":300,"refresh_token":"r"}"#,
        )
        .unwrap();
        let t = r.into_tokens().unwrap();
        assert_eq!((t.access_token(), t.refresh_token()), ("a", Some("r")));
        assert!(t.expires_at().is_some());
        let odd: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","token_type":"mac"}"#).unwrap();
        assert!(odd.into_tokens().is_none());
    }
}
