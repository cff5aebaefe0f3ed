//! Users, and the two strings a person types: parsed once at the edge so
//! nothing further in can hold an invalid one.

use std::{fmt, sync::Arc};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

use crate::{error::AuthError, ids::UserId};

/// Longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 64;
/// NIST SP 800-63B: at least 8 characters, and accept long passphrases.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Upper bound so a megabyte "password" cannot be used to burn CPU.
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// A username as shown; compared and kept unique through [`Username::key`].
/// Shared, not owned: every authenticated request hands its caller's name
/// on from a cached record or token, and a clone is then a reference count,
/// not an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(Arc<str>);

impl Username {
    /// Trims surrounding white space, puts the name in Unicode NFC (so `é`
    /// typed two ways is one name) and refuses empty, overlong, or white-space
    /// and control characters inside (they make names that look alike but
    /// differ).
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let nfc: String = raw.trim().nfc().collect();
        let name = nfc.as_str();
        if name.is_empty() {
            return Err(AuthError::InvalidRequest(
                "username must not be empty".into(),
            ));
        }
        if name.chars().count() > USERNAME_MAX_CHARS {
            return Err(AuthError::InvalidRequest(format!(
                "username must be at most {USERNAME_MAX_CHARS} characters"
            )));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AuthError::InvalidRequest(
                "username must not contain spaces or control characters".into(),
            ));
        }
        Ok(Self(name.into()))
    }

    /// The name as the user chose it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that must be unique: compatibility-normalised (NFKC: a
    /// full-width `Ａ` is `A`) and case-folded through upper then lower case,
    /// so that `Alice`/`alice`, `STRASSE`/`straße` and `ΣΑΣ`/`σασ` are each
    /// one user. A plain `to_lowercase` misses the last two.
    pub fn key(&self) -> String {
        let compat: String = self.0.nfkc().collect();
        compat.to_uppercase().to_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password in memory: never printed, never trimmed, no composition rules.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// A password for a new account or a new password: 8 to 1024 characters.
    pub fn parse_new(raw: &str) -> Result<Self, AuthError> {
        let n = raw.chars().count();
        if n < PASSWORD_MIN_CHARS {
            return Err(AuthError::InvalidRequest(format!(
                "password must be at least {PASSWORD_MIN_CHARS} characters"
            )));
        }
        Self::parse_attempt(raw)
    }

    /// A password typed at login: only the upper bound applies, so a
    /// too-short guess is just a wrong password.
    pub fn parse_attempt(raw: &str) -> Result<Self, AuthError> {
        if raw.chars().count() > PASSWORD_MAX_CHARS {
            return Err(AuthError::InvalidRequest(format!(
                "password must be at most {PASSWORD_MAX_CHARS} characters"
            )));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// The bytes to hash.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A registered user.
#[derive(Clone)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Display form of the name.
    pub username: Username,
    /// Argon2id PHC string (carries its own parameters and salt).
    pub password_hash: String,
    /// When the account was made.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_keyed_case_insensitively() {
        let u = Username::parse("  Alice ").unwrap();
        assert_eq!(u.as_str(), "Alice");
        assert_eq!(u.key(), Username::parse("aLiCe").unwrap().key());
    }

    #[test]
    fn keys_fold_case_and_normalise_unicode() {
        let key = |s: &str| Username::parse(s).unwrap().key();
        assert_eq!(key("ΣΑΣ"), key("σασ"));
        assert_eq!(key("ΣΑΣ"), key("σας"));
        assert_eq!(key("STRASSE"), key("straße"));
        assert_eq!(key("Ａlice"), key("alice"));
        assert_eq!(key("e\u{301}mile"), key("\u{e9}mile"));
        assert_eq!(
            Username::parse("e\u{301}mile").unwrap().as_str(),
            "\u{e9}mile"
        );
        assert_ne!(key("alice"), key("alice2"));
    }

    #[test]
    fn bad_usernames_are_refused() {
        let long = "x".repeat(USERNAME_MAX_CHARS + 1);
        for bad in ["", "   ", "a b", "tab\there", "nul\0", long.as_str()] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"é".repeat(USERNAME_MAX_CHARS)).is_ok());
    }

    #[test]
    fn password_bounds_count_characters() {
        assert!(Password::parse_new("1234567").is_err());
        assert!(Password::parse_new("12345678").is_ok());
        assert!(Password::parse_new(&"é".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert!(Password::parse_new(&"x".repeat(PASSWORD_MAX_CHARS + 1)).is_err());
        assert!(Password::parse_attempt("short").is_ok());
        assert!(
            !format!("{:?}", Password::parse_new("hunter2hunter2").unwrap()).contains("hunter")
        );
    }
}
