//! The security log: a durable, per-user record of what happened to an
//! account, so its owner can see a login they did not make or why a device
//! was signed out. Every event is also a structured log line (target
//! `latchkey::security`) for the operator.

use std::{fmt, net::IpAddr, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    clock::{from_millis, to_millis},
    ids::{SessionId, UserId},
    session::ClientContext,
};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A password login started a session.
    LoginSucceeded,
    /// A login named this user with a wrong password.
    LoginFailed,
    /// A session was ended by its own holder.
    Logout,
    /// A session was ended by someone or something else; see the reason.
    SessionRevoked,
    /// A spent refresh token or an old token generation came back.
    RefreshReuseDetected,
    /// A session's credential was used from another client or network.
    AnomalyDetected,
    /// The password was changed.
    PasswordChanged,
}

impl EventKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [Self; 7] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::SessionRevoked,
        Self::RefreshReuseDetected,
        Self::AnomalyDetected,
        Self::PasswordChanged,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::AnomalyDetected => "anomaly_detected",
            Self::PasswordChanged => "password_changed",
        }
    }
}

impl FromStr for EventKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a user's security log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// Unique, and the tie-breaker of the log's order.
    pub id: Uuid,
    /// Whose log it is in.
    pub user_id: UserId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: OffsetDateTime,
    /// The session it concerns, if any.
    pub session_id: Option<SessionId>,
    /// Address of the request that caused it (none for the CLI).
    pub ip: Option<IpAddr>,
    /// User agent of that request.
    pub user_agent: Option<String>,
    /// Why, in a stable word: for `session_revoked` who ended it (`user`,
    /// `admin`, `theft_detection`, `anomaly`, `password_change`); for
    /// `anomaly_detected` what changed (`user_agent_changed`,
    /// `ip_changed`); for `login_failed` `bad_password`.
    pub reason: Option<String>,
    /// Human detail, safe to show its owner (never a secret).
    pub detail: Option<String>,
}

impl SecurityEvent {
    /// A new event at `at`, caused by a request from `context`.
    pub fn new(
        user_id: UserId,
        kind: EventKind,
        at: OffsetDateTime,
        context: Option<&ClientContext>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            user_id,
            kind,
            at,
            session_id: None,
            ip: context.and_then(|c| c.ip),
            user_agent: context.and_then(|c| c.user_agent.clone()),
            reason: None,
            detail: None,
        }
    }

    /// The session it concerns.
    #[must_use]
    pub fn session(mut self, id: SessionId) -> Self {
        self.session_id = Some(id);
        self
    }

    /// Why.
    #[must_use]
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// Detail for its owner.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Where the page after this event starts.
    pub fn cursor(&self) -> EventCursor {
        EventCursor {
            at: self.at,
            id: self.id,
        }
    }
}

/// A position in a user's log, newest first: the page after a cursor holds
/// events strictly older than it (by time, then id). Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    /// Time of the last event seen.
    pub at: OffsetDateTime,
    /// Its id.
    pub id: Uuid,
}

impl EventCursor {
    /// The text clients pass back.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", to_millis(self.at), self.id.simple()))
    }

    /// Reads a cursor a client passed back; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > 128 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (at, id) = raw.split_once('.')?;
        Some(Self {
            at: from_millis(at.parse().ok()?),
            id: Uuid::try_parse(id).ok()?,
        })
    }
}

/// How long the log keeps events, and how many one page may hold.
#[derive(Debug, Clone, Copy)]
pub struct EventPolicy {
    /// Events older than this are deleted by the sweeper.
    pub retention: time::Duration,
}

impl Default for EventPolicy {
    fn default() -> Self {
        Self {
            retention: time::Duration::days(90),
        }
    }
}

/// Largest page of `GET /auth/events`.
pub const MAX_PAGE: u32 = 100;
/// Page size when the client names none.
pub const DEFAULT_PAGE: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse(), Ok(k));
        }
        assert!("nope".parse::<EventKind>().is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let e = SecurityEvent::new(
            UserId::new(),
            EventKind::Logout,
            from_millis(1_700_000_000_123),
            None,
        );
        let c = e.cursor();
        assert_eq!(EventCursor::decode(&c.encode()), Some(c));
        for bad in ["", "x", "!!!", &"A".repeat(500), "MTIzNDU"] {
            assert_eq!(EventCursor::decode(bad), None, "{bad}");
        }
    }
}
