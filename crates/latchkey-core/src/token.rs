//! JWTs: the claims latchkey puts in them and a [`KeyRing`] that signs with
//! the current key and verifies with whichever key a token's `kid` names.
//!
//! Verification follows RFC 8725: the algorithm comes from the key, never
//! from the token; `none` cannot be expressed; a token that names no known
//! key, or carries `jku`/`jwk`/`x5u`/`x5c` (an invitation to fetch or trust a
//! key it brings along), is refused before any signature work. Times are
//! checked by the caller against its [`Clock`](crate::clock::Clock), so tests
//! can move time.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
        EllipticCurveKeyType, Jwk, JwkSet, OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    },
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{
    error::AuthError,
    keys::{KeyAlgorithm, KeyState, SigningKey},
};

/// The claims of every latchkey token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Issuer: this deployment.
    pub iss: String,
    /// Audience: this deployment's API.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id: what revocation names.
    pub sid: String,
    /// The username, so "who is this" needs no store read.
    pub name: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The session's CSRF token, for browser tokens: the CSRF check then
    /// needs no store read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// The session's token generation when this token was issued
    /// (`auto-refresh` renewals advance it).
    pub generation: i64,
    /// The user agent the session is bound to
    /// ([`AgentBinding::encode`](crate::device::AgentBinding::encode)), so
    /// the anomaly check needs no store read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ua: Option<String>,
    /// The network the session is bound to
    /// ([`NetworkBinding::encode`](crate::device::NetworkBinding::encode)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
}

/// Why a token was refused. Callers answer all of them with the same 401;
/// the variants exist for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or a header or claim set latchkey does not issue.
    #[error("malformed token")]
    Malformed,
    /// The `kid` names no key that still verifies.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the named key and its algorithm.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp` (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// Before `nbf` or `iat` (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// Times that no token of ours has: expiring before it was issued, or
    /// a lifetime that does not fit the arithmetic.
    #[error("token times are inconsistent")]
    BadTimes,
    /// Another issuer or audience.
    #[error("token for another issuer or audience")]
    WrongIssuer,
}

impl Claims {
    /// Checks issuer, audience, `iat`, `nbf` and (unless `allow_expired`)
    /// `exp`. A token "issued" in the future is refused like one not yet
    /// valid: otherwise a far-future `iat` would make any lifetime check
    /// measured from it meaningless.
    pub fn check(
        &self,
        issuer: &str,
        now: OffsetDateTime,
        leeway: Duration,
        allow_expired: bool,
    ) -> Result<(), TokenError> {
        if self.iss != issuer || self.aud != issuer {
            return Err(TokenError::WrongIssuer);
        }
        let now = now.unix_timestamp();
        let leeway = leeway.whole_seconds();
        if self.nbf > now + leeway || self.iat > now + leeway {
            return Err(TokenError::NotYetValid);
        }
        if self.lifetime().is_none_or(|lifetime| lifetime < 0) {
            return Err(TokenError::BadTimes);
        }
        if !allow_expired && self.exp <= now - leeway {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// Seconds from issue to expiry, if that can be computed at all (the
    /// claims are the sender's numbers: `i64::MIN` and `i64::MAX` included).
    pub fn lifetime(&self) -> Option<i64> {
        self.exp.checked_sub(self.iat)
    }

    /// Whether the token is past its expiry at `now` (with the leeway).
    pub fn is_expired(&self, now: OffsetDateTime, leeway: Duration) -> bool {
        self.exp <= now.unix_timestamp() - leeway.whole_seconds()
    }
}

struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

struct Signer {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
}

/// The keys in force: one signer, and every key that still verifies.
pub struct KeyRing {
    signer: Option<Signer>,
    verifiers: HashMap<String, Verifier>,
    jwks: JwkSet,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signer", &self.signer.as_ref().map(|s| &s.kid))
            .field("verifiers", &self.verifiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn jose(alg: KeyAlgorithm) -> Algorithm {
    match alg {
        KeyAlgorithm::EdDsa => Algorithm::EdDSA,
        KeyAlgorithm::Es256 => Algorithm::ES256,
        KeyAlgorithm::Hs256 => Algorithm::HS256,
    }
}

impl KeyRing {
    /// The ring for `keys` at `now`: the newest unretired key signs; keys
    /// retired less than `max_token_ttl` ago still verify.
    pub fn new(
        keys: &[SigningKey],
        now: OffsetDateTime,
        max_token_ttl: Duration,
    ) -> Result<Self, AuthError> {
        let mut ring = Self {
            signer: None,
            verifiers: HashMap::new(),
            jwks: JwkSet { keys: Vec::new() },
        };
        let mut newest: Option<&SigningKey> = None;
        for key in keys {
            let state = key.state(now, max_token_ttl);
            if state == KeyState::Expired {
                continue;
            }
            let algorithm = jose(key.algorithm);
            let decoding = match key.algorithm {
                KeyAlgorithm::EdDsa => DecodingKey::from_ed_der(&key.public_key),
                KeyAlgorithm::Es256 => DecodingKey::from_ec_der(&key.public_key),
                KeyAlgorithm::Hs256 => DecodingKey::from_secret(&key.private_der)
                    .map_err(|e| AuthError::Internal(format!("bad HMAC key {}: {e}", key.kid)))?,
            };
            ring.verifiers.insert(
                key.kid.clone(),
                Verifier {
                    algorithm,
                    key: decoding,
                },
            );
            if let Some(jwk) = public_jwk(key) {
                ring.jwks.keys.push(jwk);
            }
            if state == KeyState::Signing && newest.is_none_or(|n| key.created_at >= n.created_at) {
                newest = Some(key);
            }
        }
        if let Some(key) = newest {
            let encoding = match key.algorithm {
                KeyAlgorithm::EdDsa => EncodingKey::from_ed_der(&key.private_der),
                KeyAlgorithm::Es256 => EncodingKey::from_ec_der(&key.private_der),
                KeyAlgorithm::Hs256 => EncodingKey::from_secret(&key.private_der)
                    .map_err(|e| AuthError::Internal(format!("bad HMAC key {}: {e}", key.kid)))?,
            };
            ring.signer = Some(Signer {
                kid: key.kid.clone(),
                algorithm: jose(key.algorithm),
                key: encoding,
            });
        }
        Ok(ring)
    }

    /// The kid new tokens are signed with.
    pub fn signer_kid(&self) -> Option<&str> {
        self.signer.as_ref().map(|s| s.kid.as_str())
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| AuthError::Internal("no signing key".into()))?;
        let mut header = Header::new(signer.algorithm);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &signer.key)
            .map_err(|e| AuthError::Internal(format!("token signing failed: {e}")))
    }

    /// Checks structure, key and signature; times are the caller's to check
    /// (see [`Claims::check`]).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let verifier = self.verifiers.get(kid).ok_or(TokenError::UnknownKey)?;
        if header.alg != verifier.algorithm {
            return Err(TokenError::BadSignature);
        }
        let mut validation = Validation::new(verifier.algorithm);
        validation.algorithms = vec![verifier.algorithm];
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Claims>(token, &verifier.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })
    }

    /// The public keys that still verify, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

fn public_jwk(key: &SigningKey) -> Option<Jwk> {
    let algorithm = match key.algorithm {
        KeyAlgorithm::EdDsa => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(&key.public_key),
        }),
        KeyAlgorithm::Es256 => {
            // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
            let point = key.public_key.get(1..65)?;
            AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(&point[..32]),
                y: URL_SAFE_NO_PAD.encode(&point[32..]),
            })
        }
        KeyAlgorithm::Hs256 => return None,
    };
    let key_algorithm = match key.algorithm {
        KeyAlgorithm::EdDsa => jsonwebtoken::jwk::KeyAlgorithm::EdDSA,
        KeyAlgorithm::Es256 => jsonwebtoken::jwk::KeyAlgorithm::ES256,
        KeyAlgorithm::Hs256 => return None,
    };
    Some(Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(key_algorithm),
            key_id: Some(key.kid.clone()),
            ..CommonParameters::default()
        },
        algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "latchkey";

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn claims(exp_in: Duration) -> Claims {
        let t = now();
        Claims {
            iss: ISS.into(),
            aud: ISS.into(),
            sub: "user".into(),
            sid: "session".into(),
            name: "alice".into(),
            iat: t.unix_timestamp(),
            nbf: t.unix_timestamp(),
            exp: (t + exp_in).unix_timestamp(),
            jti: "j".into(),
            csrf: Some("c".into()),
            generation: 0,
            ua: Some("Firefox/120;Linux".into()),
            net: Some("203.0.113.0/24".into()),
        }
    }

    fn ring(alg: KeyAlgorithm) -> (KeyRing, SigningKey) {
        let key = SigningKey::generate(alg, now()).unwrap();
        (
            KeyRing::new(std::slice::from_ref(&key), now(), Duration::hours(1)).unwrap(),
            key,
        )
    }

    fn b64(v: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn every_algorithm_round_trips() {
        for alg in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Hs256,
        ] {
            let (ring, key) = ring(alg);
            let token = ring.sign(&claims(Duration::minutes(5))).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.alg, jose(alg));
            let got = ring.verify(&token).unwrap();
            assert_eq!(got, claims(Duration::minutes(5)));
            got.check(ISS, now(), Duration::seconds(2), false).unwrap();
            assert_eq!(ring.jwks().keys.len(), usize::from(alg.is_asymmetric()));
        }
    }

    #[test]
    fn forged_tokens_are_refused() {
        let (ring, key) = ring(KeyAlgorithm::EdDsa);
        let good = ring.sign(&claims(Duration::minutes(5))).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let payload = parts[1];
        let header_with = |json: &str| b64(json.as_bytes());
        let kid = &key.kid;

        // alg: none, in its spellings.
        for alg in ["none", "None", "NONE", "nOnE"] {
            let h = header_with(&format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#));
            assert!(ring.verify(&format!("{h}.{payload}.")).is_err(), "{alg}");
        }
        // HMAC signed with the public key, under the EdDSA key's kid.
        let h = header_with(&format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"JWT"}}"#));
        let forged = {
            let key = EncodingKey::from_secret(&key.public_key).unwrap();
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, &claims(Duration::minutes(5)), &key).unwrap()
        };
        assert_eq!(ring.verify(&forged), Err(TokenError::BadSignature));
        assert!(ring.verify(&format!("{h}.{payload}.{}", parts[2])).is_err());
        // Unknown, missing and hostile kids.
        for kid in ["nope", "../../etc/passwd", "' OR 1=1 --", ""] {
            let h = header_with(&format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#));
            assert_eq!(
                ring.verify(&format!("{h}.{payload}.{}", parts[2])),
                Err(TokenError::UnknownKey)
            );
        }
        let h = header_with(r#"{"alg":"EdDSA"}"#);
        assert_eq!(
            ring.verify(&format!("{h}.{payload}.{}", parts[2])),
            Err(TokenError::UnknownKey)
        );
        // Key material offered by the token itself.
        for extra in [
            r#""jku":"https://evil.example/jwks.json""#,
            r#""x5u":"https://evil.example/cert.pem""#,
            r#""jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        ] {
            let h = header_with(&format!(r#"{{"alg":"EdDSA","kid":"{kid}",{extra}}}"#));
            assert_eq!(
                ring.verify(&format!("{h}.{payload}.{}", parts[2])),
                Err(TokenError::Malformed),
                "{extra}"
            );
        }
        // Tampered claims, stripped or truncated signatures, garbage.
        let mut tampered = claims(Duration::minutes(5));
        tampered.sub = "admin".into();
        let tampered_payload = b64(&serde_json::to_vec(&tampered).unwrap());
        assert_eq!(
            ring.verify(&format!("{}.{tampered_payload}.{}", parts[0], parts[2])),
            Err(TokenError::BadSignature)
        );
        assert!(ring.verify(&format!("{}.{}.", parts[0], parts[1])).is_err());
        assert!(ring.verify(&format!("{}.{}", parts[0], parts[1])).is_err());
        assert!(ring.verify(&good[..good.len() - 4]).is_err());
        for junk in ["", ".", "..", "a.b.c", "ey.ey.ey", "\u{0}"] {
            assert!(ring.verify(junk).is_err(), "{junk:?}");
        }
        // Another deployment's key with the same kid is still refused.
        let (other, _) = self::ring(KeyAlgorithm::EdDsa);
        let foreign = other.sign(&claims(Duration::minutes(5))).unwrap();
        assert_eq!(ring.verify(&foreign), Err(TokenError::UnknownKey));
    }

    #[test]
    fn psychic_signature_is_refused_for_es256() {
        let (ring, key) = ring(KeyAlgorithm::Es256);
        let good = ring.sign(&claims(Duration::minutes(5))).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let zero = b64(&[0u8; 64]);
        assert_eq!(
            ring.verify(&format!("{}.{}.{zero}", parts[0], parts[1])),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key.public_key.len(), 65);
    }

    #[test]
    fn times_and_issuer_are_checked() {
        let leeway = Duration::seconds(2);
        let c = claims(Duration::minutes(5));
        assert_eq!(
            c.check(ISS, now() + Duration::minutes(5), leeway, false),
            Ok(())
        );
        assert_eq!(
            c.check(ISS, now() + Duration::minutes(5) + leeway, leeway, false),
            Err(TokenError::Expired)
        );
        assert_eq!(
            c.check(ISS, now() + Duration::hours(1), leeway, true),
            Ok(())
        );
        assert_eq!(
            c.check(ISS, now() - Duration::seconds(3), leeway, false),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            c.check("other", now(), leeway, false),
            Err(TokenError::WrongIssuer)
        );
        // Issued in the future, or with times no arithmetic can span.
        let mut future = c.clone();
        future.iat += 60;
        assert_eq!(
            future.check(ISS, now(), leeway, false),
            Err(TokenError::NotYetValid)
        );
        for (iat, exp) in [(-1, i64::MAX), (i64::MIN, c.exp), (c.iat, c.iat - 1)] {
            let odd = Claims {
                iat,
                exp,
                nbf: iat,
                ..c.clone()
            };
            assert_eq!(
                odd.check(ISS, now(), leeway, true),
                Err(TokenError::BadTimes),
                "iat {iat} exp {exp}"
            );
        }
        // Claims of the wrong JSON type never pass as absent.
        let (ring, key) = ring(KeyAlgorithm::Hs256);
        let h = b64(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key.kid).as_bytes());
        let mut v = serde_json::to_value(&c).unwrap();
        v["exp"] = serde_json::json!("never");
        let p = b64(v.to_string().as_bytes());
        let signing = EncodingKey::from_secret(&key.private_der).unwrap();
        let sig =
            jsonwebtoken::crypto::sign(format!("{h}.{p}").as_bytes(), &signing, Algorithm::HS256)
                .unwrap();
        assert_eq!(
            ring.verify(&format!("{h}.{p}.{sig}")),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_until_they_expire() {
        let ttl = Duration::minutes(5);
        let mut old = SigningKey::generate(KeyAlgorithm::EdDsa, now()).unwrap();
        let before = KeyRing::new(std::slice::from_ref(&old), now(), ttl).unwrap();
        let token = before.sign(&claims(ttl)).unwrap();
        old.retired_at = Some(now());
        let new = SigningKey::generate(KeyAlgorithm::EdDsa, now()).unwrap();
        let keys = [old.clone(), new.clone()];
        let after = KeyRing::new(&keys, now() + Duration::minutes(1), ttl).unwrap();
        assert_eq!(after.signer_kid(), Some(new.kid.as_str()));
        assert!(after.verify(&token).is_ok());
        assert_eq!(after.jwks().keys.len(), 2);
        let later = KeyRing::new(&keys, now() + ttl, ttl).unwrap();
        assert_eq!(later.verify(&token), Err(TokenError::UnknownKey));
        assert_eq!(later.jwks().keys.len(), 1);
    }
}
