//! Bearer secrets: 256 bits straight from the OS RNG, handed to the client
//! once, and kept by the store only as a SHA-256 digest, so a copy of the
//! database holds no usable credential.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::AuthError;

const SECRET_BYTES: usize = 32;
/// Length of the base64url (no padding) text of [`SECRET_BYTES`] bytes.
const SECRET_TEXT_LEN: usize = 43;

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| AuthError::Internal(format!("OS random number generator failed: {e}")))?;
    Ok(buf)
}

/// A 256-bit random secret in its wire form (base64url, no padding).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// A fresh secret from the OS RNG.
    pub fn generate() -> Result<Self, AuthError> {
        Ok(Self(
            URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>()?),
        ))
    }

    /// Accepts only text that could have come from [`SecretToken::generate`];
    /// anything else is refused before it reaches the store.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != SECRET_TEXT_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == SECRET_BYTES).then(|| Self(text.to_owned()))
    }

    /// The secret itself, for the one response that hands it to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// SHA-256 of a [`SecretToken`]. A plain hash suffices (no salt, no KDF):
/// the input is 256 bits of randomness, not a guessable password.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds a hash read back from a store.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_differ() {
        let a = SecretToken::generate().unwrap();
        let b = SecretToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), SECRET_TEXT_LEN);
        assert_eq!(SecretToken::parse(a.expose()), Some(a.clone()));
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn parse_refuses_anything_else() {
        let good = SecretToken::generate().unwrap();
        let long = format!("{}A", good.expose());
        let bad_char = format!("{}!", &good.expose()[..42]);
        for bad in [
            "",
            "short",
            long.as_str(),
            bad_char.as_str(),
            &"é".repeat(21),
        ] {
            assert_eq!(SecretToken::parse(bad), None, "{bad}");
        }
    }
}
