//! Sessions: one per login, ended by expiry or revocation, never by reuse of
//! an id a client brought with it (a new id at every login stops fixation).

use std::{fmt, net::IpAddr, str::FromStr};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{
    csrf::CsrfToken,
    ids::{SessionId, UserId},
    secret::TokenHash,
};

/// Longest user agent kept, in bytes; the rest is noise or an attack.
pub const USER_AGENT_MAX_BYTES: usize = 512;

/// Which kind of client holds the session, which decides the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A browser: HttpOnly cookie + CSRF token.
    #[default]
    Web,
    /// An app: bearer token, no CSRF.
    Mobile,
}

impl ClientKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Mobile => "mobile",
        }
    }
}

impl FromStr for ClientKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "web" => Ok(Self::Web),
            "mobile" => Ok(Self::Mobile),
            _ => Err(()),
        }
    }
}

/// Where a request came from, as far as the HTTP layer could tell. The
/// user agent is whatever the client claims: it is kept for the device
/// list and the session binding, never trusted for anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// Client address (the socket peer, or a trusted proxy's word for it).
    pub ip: Option<IpAddr>,
    /// `User-Agent`, cut to [`USER_AGENT_MAX_BYTES`].
    pub user_agent: Option<String>,
}

impl ClientContext {
    /// Builds a context, cutting an overlong user agent at a character
    /// boundary.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Self::from_owned(ip, user_agent.map(str::to_owned))
    }

    /// The same, taking the user agent by value (cut in place, not copied).
    pub fn from_owned(ip: Option<IpAddr>, mut user_agent: Option<String>) -> Self {
        if let Some(ua) = user_agent.as_mut() {
            let mut end = ua.len().min(USER_AGENT_MAX_BYTES);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua.truncate(end);
        }
        Self { ip, user_agent }
    }
}

/// Why a session ended early. Kept with the session for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// `POST /auth/logout` from the session itself.
    Logout,
    /// `POST /auth/logout-all`, "sign out everywhere".
    LogoutAll,
    /// The user ended this session from another one (`DELETE /auth/sessions/{id}`).
    User,
    /// An operator, through `latchkey users revoke-all`.
    Admin,
    /// The password changed; other sessions end.
    PasswordChange,
    /// A spent refresh token or an old token generation came back after the
    /// grace period: someone else holds a copy.
    TokenReuse,
    /// The session's credential was used from another client than the one
    /// it is bound to, under a `revoke` anomaly policy.
    Anomaly,
}

impl RevocationReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::User => "user",
            Self::Admin => "admin",
            Self::PasswordChange => "password_change",
            Self::TokenReuse => "theft_detection",
            Self::Anomaly => "anomaly",
        }
    }
}

impl FromStr for RevocationReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "logout" => Self::Logout,
            "logout_all" => Self::LogoutAll,
            "user" => Self::User,
            "admin" => Self::Admin,
            "password_change" => Self::PasswordChange,
            "theft_detection" | "token_reuse" => Self::TokenReuse,
            "anomaly" => Self::Anomaly,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long sessions live and how often their last-seen time is written.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Absolute lifetime from login.
    pub ttl: Duration,
    /// Last-seen is written at most once per this interval per session, so
    /// a busy client does not turn every read into a write.
    pub touch_interval: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::days(30),
            touch_interval: Duration::minutes(1),
        }
    }
}

/// Whether a session can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Usable.
    Active,
    /// Past its absolute expiry.
    Expired,
    /// Ended on purpose.
    Revoked,
}

/// One login of one user on one client.
#[derive(Debug, Clone)]
pub struct Session {
    /// Public id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the credential; the credential itself is never stored.
    pub token_hash: TokenHash,
    /// Browser or app.
    pub client: ClientKind,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last request, to within [`SessionPolicy::touch_interval`].
    pub last_seen_at: OffsetDateTime,
    /// Absolute end of life.
    pub expires_at: OffsetDateTime,
    /// Address at login: with the user agent at login, what the session is
    /// bound to.
    pub ip: Option<IpAddr>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// Address of the latest request recorded (see `last_seen_at`).
    pub last_ip: Option<IpAddr>,
    /// User agent of the latest request recorded.
    pub last_user_agent: Option<String>,
    /// Secret that unsafe cookie requests must echo.
    pub csrf_token: CsrfToken,
    /// When it was ended on purpose, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was ended.
    pub revoked_reason: Option<RevocationReason>,
    /// `auto-refresh`: advanced by each renewal of the session's token, so
    /// an expired token of an older generation is recognised as a replay.
    pub generation: i64,
    /// `auto-refresh`: when the generation last advanced.
    pub renewed_at: Option<OffsetDateTime>,
}

impl Session {
    /// The session's state at `now`. Revocation wins over expiry, so a client
    /// is told its session was ended rather than that it ran out.
    pub fn state(&self, now: OffsetDateTime) -> SessionState {
        if self.revoked_at.is_some() {
            SessionState::Revoked
        } else if now >= self.expires_at {
            SessionState::Expired
        } else {
            SessionState::Active
        }
    }

    /// Whether last-seen is stale enough to be written again, or the
    /// request comes from another address or agent than the last one
    /// recorded (so the device list shows where a session is now).
    pub fn needs_touch(
        &self,
        now: OffsetDateTime,
        policy: &SessionPolicy,
        context: &ClientContext,
    ) -> bool {
        now - self.last_seen_at >= policy.touch_interval
            || (context.ip.is_some() && context.ip != self.last_ip)
            || context.user_agent != self.last_user_agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretToken;

    fn session_at(now: OffsetDateTime, policy: &SessionPolicy) -> Session {
        Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            token_hash: SecretToken::generate().unwrap().hash(),
            client: ClientKind::Web,
            created_at: now,
            last_seen_at: now,
            expires_at: now + policy.ttl,
            ip: None,
            user_agent: None,
            last_ip: None,
            last_user_agent: None,
            csrf_token: CsrfToken::generate().unwrap(),
            revoked_at: None,
            revoked_reason: None,
            generation: 0,
            renewed_at: None,
        }
    }

    #[test]
    fn expires_at_the_absolute_ttl() {
        let policy = SessionPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let s = session_at(t0, &policy);
        assert_eq!(s.state(t0), SessionState::Active);
        assert_eq!(
            s.state(t0 + policy.ttl - Duration::milliseconds(1)),
            SessionState::Active
        );
        assert_eq!(s.state(t0 + policy.ttl), SessionState::Expired);
    }

    #[test]
    fn revoked_wins_over_expired() {
        let policy = SessionPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let mut s = session_at(t0, &policy);
        s.revoked_at = Some(t0);
        assert_eq!(s.state(t0), SessionState::Revoked);
        assert_eq!(s.state(t0 + policy.ttl * 2), SessionState::Revoked);
    }

    #[test]
    fn last_seen_is_touched_at_most_once_per_interval() {
        let policy = SessionPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let s = session_at(t0, &policy);
        let same = ClientContext::default();
        assert!(!s.needs_touch(t0 + Duration::seconds(59), &policy, &same));
        assert!(s.needs_touch(t0 + Duration::seconds(60), &policy, &same));
        let moved = ClientContext::new(Some([198, 51, 100, 1].into()), None);
        assert!(s.needs_touch(t0 + Duration::seconds(1), &policy, &moved));
    }

    #[test]
    fn user_agent_is_cut_on_a_char_boundary() {
        let ua = "é".repeat(USER_AGENT_MAX_BYTES);
        let ctx = ClientContext::new(None, Some(&ua));
        let kept = ctx.user_agent.unwrap();
        assert!(kept.len() <= USER_AGENT_MAX_BYTES);
        assert!(ua.starts_with(&kept));
    }

    #[test]
    fn names_round_trip() {
        for r in [
            RevocationReason::Logout,
            RevocationReason::LogoutAll,
            RevocationReason::User,
            RevocationReason::Admin,
            RevocationReason::PasswordChange,
            RevocationReason::TokenReuse,
            RevocationReason::Anomaly,
        ] {
            assert_eq!(r.as_str().parse(), Ok(r));
        }
        for c in [ClientKind::Web, ClientKind::Mobile] {
            assert_eq!(c.as_str().parse(), Ok(c));
        }
    }
}
