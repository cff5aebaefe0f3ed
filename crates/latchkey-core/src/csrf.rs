//! The synchroniser token that browsers must echo in `X-CSRF-Token` on every
//! unsafe request authenticated by cookie. A cross-site page can make the
//! browser send the cookie but cannot read this value.

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

use crate::{error::AuthError, secret::random_bytes};

/// A session's CSRF secret (256 bits, base64url). Shared like
/// [`Username`](crate::user::Username): each request's caller carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(Arc<str>);

impl CsrfToken {
    /// A fresh token from the OS RNG.
    pub fn generate() -> Result<Self, AuthError> {
        Ok(Self(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?).into()))
    }

    /// Rebuilds a token read back from a store.
    pub fn from_stored(value: String) -> Self {
        Self(value.into())
    }

    /// The value handed to the session's owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time independent of where the
    /// two differ.
    pub fn matches(&self, presented: &str) -> bool {
        // An empty token (an app's session has none) matches nothing.
        !self.0.is_empty() && bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_itself() {
        let t = CsrfToken::generate().unwrap();
        assert!(t.matches(t.expose()));
        assert!(!t.matches(""));
        assert!(!t.matches(&t.expose()[1..]));
        assert!(!t.matches(CsrfToken::generate().unwrap().expose()));
        assert!(!CsrfToken::from_stored(String::new()).matches(""));
    }
}
