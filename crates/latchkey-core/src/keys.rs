//! Signing keys for the JWT strategies. Made on first start so a deployment
//! never runs with a default or shared key.

use std::fmt;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::OffsetDateTime;

use crate::{error::AuthError, secret::random_bytes};

/// A signing key as stored.
#[derive(Clone)]
pub struct SigningKey {
    /// Key id, carried in each token's header.
    pub kid: String,
    /// JOSE algorithm name (`EdDSA`).
    pub algorithm: String,
    /// PKCS#8 v2 DER of the private key.
    pub private_der: Vec<u8>,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stopped signing, if it has.
    pub retired_at: Option<OffsetDateTime>,
}

impl SigningKey {
    /// A new Ed25519 key from the OS RNG.
    pub fn generate_ed25519(now: OffsetDateTime) -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| AuthError::Internal("Ed25519 key generation failed".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| AuthError::Internal("generated Ed25519 key did not load".into()))?;
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(random_bytes::<12>()?),
            algorithm: "EdDSA".into(),
            private_der: pkcs8.as_ref().to_vec(),
            public_key: pair.public_key().as_ref().to_vec(),
            created_at: now,
            retired_at: None,
        })
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
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};

    use super::*;

    #[test]
    fn generated_key_signs_and_its_public_half_verifies() {
        let key = SigningKey::generate_ed25519(OffsetDateTime::UNIX_EPOCH).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&key.private_der).unwrap();
        let sig = pair.sign(b"latchkey");
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(b"latchkey", sig.as_ref())
            .unwrap();
        assert!(!format!("{key:?}").contains("private_der"));
    }
}
