//! Signing keys for the JWT strategies. Made on first start so a deployment
//! never runs with a default or shared key; each key carries its algorithm,
//! and a token is only ever verified with the algorithm of the key its
//! `kid` names (RFC 8725 §3.1), never the one its header claims.

use std::{fmt, str::FromStr};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::{Duration, OffsetDateTime};

use crate::{error::AuthError, secret::random_bytes};

/// The signature algorithms latchkey issues tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// Ed25519: small, fast, deterministic signatures. The default.
    #[default]
    EdDsa,
    /// ECDSA P-256 with SHA-256, for verifiers that lack Ed25519.
    Es256,
    /// HMAC-SHA-256: a shared secret, so only latchkey can verify; never
    /// published in the JWKS.
    Hs256,
}

impl KeyAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Hs256 => "HS256",
        }
    }

    /// Whether the key's public half may be published.
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, Self::Hs256)
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "EdDSA" => Ok(Self::EdDsa),
            "ES256" => Ok(Self::Es256),
            "HS256" => Ok(Self::Hs256),
            other => Err(format!(
                "unknown signing algorithm {other:?} (use EdDSA, ES256 or HS256)"
            )),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing key as stored.
#[derive(Clone)]
pub struct SigningKey {
    /// Key id, carried in each token's header.
    pub kid: String,
    /// The only algorithm this key signs and verifies with.
    pub algorithm: KeyAlgorithm,
    /// PKCS#8 DER of the private key, or the HMAC secret.
    pub private_der: Vec<u8>,
    /// Raw public key (Ed25519: 32 bytes; P-256: uncompressed point); empty
    /// for HMAC.
    pub public_key: Vec<u8>,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stopped signing, if it has. It verifies for one longest
    /// token lifetime more.
    pub retired_at: Option<OffsetDateTime>,
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (and verifies).
    Signing,
    /// Only verifies tokens it signed before it was retired.
    Verifying,
    /// Every token it signed has expired; it is no longer published.
    Expired,
}

impl KeyState {
    /// The listing name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Verifying => "verifying",
            Self::Expired => "expired",
        }
    }
}

impl SigningKey {
    /// A new key from the OS RNG.
    pub fn generate(algorithm: KeyAlgorithm, now: OffsetDateTime) -> Result<Self, AuthError> {
        let failed = |what: &str| AuthError::Internal(format!("{algorithm} key {what} failed"));
        let rng = SystemRandom::new();
        let (private_der, public_key) = match algorithm {
            KeyAlgorithm::EdDsa => {
                let pkcs8 =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| failed("generation"))?;
                let pair =
                    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| failed("loading"))?;
                (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
            }
            KeyAlgorithm::Es256 => {
                let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
                let pkcs8 =
                    EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| failed("generation"))?;
                let pair =
                    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).map_err(|_| failed("loading"))?;
                (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
            }
            KeyAlgorithm::Hs256 => (random_bytes::<32>()?.to_vec(), Vec::new()),
        };
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(random_bytes::<12>()?),
            algorithm,
            private_der,
            public_key,
            created_at: now,
            retired_at: None,
        })
    }

    /// The key's state at `now`, given the longest lifetime of any token.
    pub fn state(&self, now: OffsetDateTime, max_token_ttl: Duration) -> KeyState {
        match self.retired_at {
            None => KeyState::Signing,
            Some(at) if now < at + max_token_ttl => KeyState::Verifying,
            Some(_) => KeyState::Expired,
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};

    use super::*;

    #[test]
    fn generated_keys_sign_and_their_public_halves_verify() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let ed = SigningKey::generate(KeyAlgorithm::EdDsa, now).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&ed.private_der).unwrap();
        let sig = pair.sign(b"latchkey");
        UnparsedPublicKey::new(&ED25519, &ed.public_key)
            .verify(b"latchkey", sig.as_ref())
            .unwrap();

        let ec = SigningKey::generate(KeyAlgorithm::Es256, now).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec.private_der).unwrap();
        let sig = pair.sign(&SystemRandom::new(), b"latchkey").unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &ec.public_key)
            .verify(b"latchkey", sig.as_ref())
            .unwrap();

        let hs = SigningKey::generate(KeyAlgorithm::Hs256, now).unwrap();
        assert_eq!(hs.private_der.len(), 32);
        assert!(hs.public_key.is_empty());
        assert!(!format!("{ed:?}").contains("private_der"));
    }

    #[test]
    fn keys_verify_for_one_token_lifetime_after_retirement() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let ttl = Duration::minutes(5);
        let mut key = SigningKey::generate(KeyAlgorithm::EdDsa, now).unwrap();
        assert_eq!(key.state(now, ttl), KeyState::Signing);
        key.retired_at = Some(now);
        assert_eq!(
            key.state(now + ttl - Duration::seconds(1), ttl),
            KeyState::Verifying
        );
        assert_eq!(key.state(now + ttl, ttl), KeyState::Expired);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Hs256,
        ] {
            assert_eq!(a.as_str().parse(), Ok(a));
        }
        assert!("none".parse::<KeyAlgorithm>().is_err());
        assert!("RS256".parse::<KeyAlgorithm>().is_err());
    }
}
