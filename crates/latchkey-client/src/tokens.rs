//! The credentials a mobile login hands out, and when to renew them.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

/// The tokens of one signed-in session, as a [`TokenStore`](crate::TokenStore)
/// keeps them.
///
/// They are secrets: `Debug` prints `<redacted>` in their place and no
/// error of this crate quotes them. `Serialize` does write them out, since
/// that is what a persistent store is for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<SystemTime>,
    /// When the access token arrived: with `expires_at`, its lifetime,
    /// which bounds the refresh margin.
    received_at: Option<SystemTime>,
}

impl Tokens {
    /// Tokens as a login or refresh answer gives them, received now.
    ///
    /// Custom stores get `Tokens` from [`TokenStore::load`](crate::TokenStore::load)
    /// of their own serialized copy; this constructor is for importing a
    /// token obtained some other way. Without `expires_in` the client
    /// cannot refresh ahead of time and relies on the server's `401`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use latchkey_client::Tokens;
    ///
    /// let tokens = Tokens::new("eyJ…", Some("r3fr3sh…".into()), Some(Duration::from_secs(300)));
    /// assert!(tokens.refresh_token().is_some());
    /// assert_eq!(format!("{tokens:?}").contains("eyJ"), false);
    /// ```
    pub fn new(
        access_token: impl Into<String>,
        refresh_token: Option<String>,
        expires_in: Option<Duration>,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            access_token: access_token.into(),
            refresh_token,
            expires_at: expires_in.and_then(|d| now.checked_add(d)),
            received_at: Some(now),
        }
    }

    /// The bearer token, for code that must hand it to something else
    /// (a WebSocket handshake, another HTTP library). Prefer
    /// [`Client::access_token`](crate::Client::access_token), which renews it
    /// first when it is about to expire.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The refresh token: only the `access-refresh` strategy issues one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// When the access token expires, if known. An `auto-refresh` renewal
    /// (`X-Refreshed-Token`) does not say, so it is `None` after one; the
    /// server renews such tokens by itself.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The same refresh token with a new access token of unknown expiry:
    /// what an `X-Refreshed-Token` renewal gives.
    pub(crate) fn renewed(&self, access_token: String) -> Self {
        Self {
            access_token,
            refresh_token: self.refresh_token.clone(),
            expires_at: None,
            received_at: Some(SystemTime::now()),
        }
    }

    /// Whether a request at `now` should first spend the refresh token.
    ///
    /// True from `margin` before expiry, where `margin` is at most half the
    /// token's lifetime: with short access tokens (seconds, in tests or a
    /// strict deployment) a fixed margin larger than the lifetime would
    /// refresh before every request and rotate the refresh token each time.
    /// Without a refresh token or a known expiry there is nothing to decide:
    /// the server's `401` is the signal.
    pub(crate) fn needs_refresh(&self, now: SystemTime, margin: Duration) -> bool {
        let (Some(_), Some(expires_at)) = (&self.refresh_token, self.expires_at) else {
            return false;
        };
        let lifetime = self
            .received_at
            .and_then(|at| expires_at.duration_since(at).ok());
        let margin = lifetime.map_or(margin, |life| margin.min(life / 2));
        now.checked_add(margin).is_none_or(|t| t >= expires_at)
    }

    /// Whether the access token has certainly expired by `now` (by this
    /// machine's clock).
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The serialized form: times as whole Unix seconds, readable in a token
/// file and independent of `SystemTime`'s platform representation.
#[derive(Serialize, Deserialize)]
struct Stored {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_at: Option<u64>,
}

fn to_unix(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn from_unix(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

impl From<Tokens> for Stored {
    fn from(t: Tokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t.expires_at.and_then(to_unix),
            received_at: t.received_at.and_then(to_unix),
        }
    }
}

impl From<Stored> for Tokens {
    fn from(s: Stored) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_at: s.expires_at.and_then(from_unix),
            received_at: s.received_at.and_then(from_unix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn tokens(refresh: bool, lifetime: Option<Duration>) -> (Tokens, SystemTime) {
        let t = Tokens::new("access", refresh.then(|| "refresh".to_owned()), lifetime);
        let at = t.received_at.unwrap();
        (t, at)
    }

    #[test]
    fn a_fresh_token_is_used_until_the_margin_before_expiry() {
        let (t, at) = tokens(true, Some(5 * MIN));
        let margin = Duration::from_secs(30);
        assert!(!t.needs_refresh(at, margin));
        assert!(!t.needs_refresh(at + Duration::from_secs(269), margin));
        assert!(t.needs_refresh(at + Duration::from_secs(270), margin));
        assert!(t.needs_refresh(at + 10 * MIN, margin), "expired");
    }

    #[test]
    fn the_margin_is_at_most_half_the_lifetime() {
        // A 4 s token with a 30 s margin: refreshed after 2 s, not always.
        let (t, at) = tokens(true, Some(Duration::from_secs(4)));
        let margin = Duration::from_secs(30);
        assert!(!t.needs_refresh(at + Duration::from_millis(1999), margin));
        assert!(t.needs_refresh(at + Duration::from_secs(2), margin));
    }

    #[test]
    fn a_zero_margin_refreshes_only_an_expired_token() {
        let (t, at) = tokens(true, Some(MIN));
        assert!(!t.needs_refresh(at + Duration::from_secs(59), Duration::ZERO));
        assert!(t.needs_refresh(at + MIN, Duration::ZERO));
    }

    #[test]
    fn without_a_refresh_token_or_an_expiry_nothing_is_refreshed_ahead() {
        let (no_refresh, at) = tokens(false, Some(MIN));
        assert!(!no_refresh.needs_refresh(at + 2 * MIN, MIN));
        let (no_expiry, at) = tokens(true, None);
        assert!(!no_expiry.needs_refresh(at + 60 * MIN, MIN));
        assert!(!no_expiry.is_expired(at + 60 * MIN));
    }

    #[test]
    fn a_renewal_keeps_the_refresh_token_and_forgets_the_expiry() {
        let (t, _) = tokens(true, Some(MIN));
        let r = t.renewed("next".into());
        assert_eq!(r.access_token(), "next");
        assert_eq!(r.refresh_token(), Some("refresh"));
        assert_eq!(r.expires_at(), None);
    }

    #[test]
    fn expiry_is_by_the_local_clock() {
        let (t, at) = tokens(true, Some(MIN));
        assert!(!t.is_expired(at + Duration::from_secs(59)));
        assert!(t.is_expired(at + MIN));
    }

    #[test]
    fn debug_never_prints_a_token() {
        let (t, _) = tokens(true, Some(MIN));
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("access\"") && !shown.contains("\"refresh\""),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn the_stored_form_round_trips_in_whole_seconds() {
        let (t, _) = tokens(true, Some(MIN));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["access_token"], "access");
        assert_eq!(json["refresh_token"], "refresh");
        assert!(json["expires_at"].is_u64() && json["received_at"].is_u64());
        let back: Tokens = serde_json::from_value(json).unwrap();
        assert_eq!(back.access_token(), "access");
        let drift = t
            .expires_at()
            .unwrap()
            .duration_since(back.expires_at().unwrap())
            .unwrap();
        assert!(drift < Duration::from_secs(1));
        // Only the access token is required.
        let bare: Tokens = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!((bare.refresh_token(), bare.expires_at()), (None, None));
    }
}
