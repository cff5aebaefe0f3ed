//! The four ways a deployment keeps clients logged in (`--strategy`).

use std::{fmt, str::FromStr};

use serde::Deserialize;

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

    /// Whether this build can serve the strategy. The JWT strategies are
    /// accepted by the parser so that configuration written for them gets a
    /// clear refusal at start instead of a parse error.
    pub fn is_available(self) -> bool {
        matches!(self, Self::Session)
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
