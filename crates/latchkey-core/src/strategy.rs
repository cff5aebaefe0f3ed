//! The four ways a deployment keeps clients logged in (`--strategy`).

use std::{fmt, str::FromStr};

use serde::Deserialize;
use time::Duration;

use crate::keys::KeyAlgorithm;

/// One per deployment; see the strategy table of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Opaque random session id checked against the session record.
    #[default]
    Session,
    /// Long-lived JWT plus a session-record check.
    StatefulJwt,
    /// Short JWT plus a rotating refresh token.
    AccessRefresh,
    /// Short JWT the server renews on expiry.
    AutoRefresh,
}

impl Strategy {
    /// Every strategy, in the contract's order.
    pub const ALL: [Strategy; 4] = [
        Self::Session,
        Self::StatefulJwt,
        Self::AccessRefresh,
        Self::AutoRefresh,
    ];

    /// The name used on the command line and in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::StatefulJwt => "stateful-jwt",
            Self::AccessRefresh => "access-refresh",
            Self::AutoRefresh => "auto-refresh",
        }
    }

    /// Whether the credential is a JWT.
    pub fn uses_jwt(self) -> bool {
        !matches!(self, Self::Session)
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown strategy {s:?} (use session, stateful-jwt, access-refresh or auto-refresh)")
            })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the deployment's strategy issues and checks credentials.
#[derive(Debug, Clone)]
pub struct StrategyConfig {
    /// Which strategy.
    pub strategy: Strategy,
    /// Lifetime of access tokens in `access-refresh` and `auto-refresh`.
    pub access_ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// `iss` and `aud` of every token.
    pub issuer: String,
    /// Algorithm of newly made signing keys.
    pub algorithm: KeyAlgorithm,
    /// How long a session record read for `stateful-jwt` is reused.
    pub cache_ttl: Duration,
    /// How long a spent refresh token (or a just-renewed token generation)
    /// still gets the same successor instead of counting as theft, so that
    /// a client's parallel refreshes do not sign it out.
    pub refresh_grace: Duration,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Session,
            access_ttl: Duration::minutes(5),
            leeway: Duration::seconds(5),
            issuer: "latchkey".to_owned(),
            algorithm: KeyAlgorithm::EdDsa,
            cache_ttl: Duration::seconds(30),
            refresh_grace: Duration::seconds(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        assert!("jwt".parse::<Strategy>().is_err());
    }
}
