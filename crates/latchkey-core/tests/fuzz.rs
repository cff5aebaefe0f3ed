//! Fuzz properties for the parsers of latchkey-core that see a client's
//! bytes: JWT decoding and verification, the CSRF token comparison,
//! user-agent parsing and the bindings a token carries, bearer secrets,
//! usernames and passwords, durations and public ids.
//!
//! Each target is a function from an input to a verdict, run on generated
//! inputs (proptest, fixed seed) and on every file of
//! `fuzz/corpus/<target>/`; `fuzz/README.md` has the longer run.

#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::{net::IpAddr, str::FromStr, sync::LazyLock};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey};
use latchkey_core::{
    csrf::CsrfToken,
    device::{AgentBinding, Device, NetworkBinding, device_label},
    duration::HumanDuration,
    event::EventCursor,
    ids::{SessionId, UserId},
    keys::{KeyAlgorithm, SigningKey},
    secret::SecretToken,
    session::{ClientContext, USER_AGENT_MAX_BYTES},
    token::{Claims, KeyRing},
    user::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, Password, USERNAME_MAX_CHARS, Username},
};
use proptest::{prelude::*, sample::Index, test_runner::TestCaseResult};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------
// Shared generators

/// Text a client could send: any string, any bytes read as text, and
/// ASCII with the separators parsers split on.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        3 => "[ -~\t]{0,120}",
        2 => "[a-zA-Z0-9/;.,=:%()\\[\\] \"_+-]{0,80}",
        1 => (any::<char>(), 0..5000usize).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        hostile_text().prop_map(Value::String),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

// ---------------------------------------------------------------------------
// jwt: KeyRing::verify

const ISSUER: &str = "latchkey";

/// One key ring and the one token it must accept.
struct Ring {
    alg: KeyAlgorithm,
    key: SigningKey,
    ring: KeyRing,
    claims: Claims,
    genuine: String,
}

/// A ring per algorithm, plus tokens under the same kids from keys that are
/// not in any ring (another deployment, an attacker's key).
struct Tokens {
    rings: Vec<Ring>,
    foreign: Vec<String>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn claims() -> Claims {
    let t = now().unix_timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        sub: UserId::new().to_string(),
        sid: SessionId::new().to_string(),
        name: "alice".into(),
        iat: t,
        nbf: t,
        exp: t + 300,
        jti: "jti-1".into(),
        csrf: Some("c".repeat(43)),
        generation: 0,
        ua: Some("Firefox/120;Linux".into()),
        net: Some("203.0.113.0/24".into()),
    }
}

/// A key with a fixed kid, so corpus files can name it.
fn key(alg: KeyAlgorithm) -> SigningKey {
    let mut key = SigningKey::generate(alg, now()).unwrap();
    key.kid = format!("fuzz-{alg}");
    key
}

static TOKENS: LazyLock<Tokens> = LazyLock::new(|| {
    let mut rings = Vec::new();
    let mut foreign = Vec::new();
    for alg in [
        KeyAlgorithm::EdDsa,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Hs256,
    ] {
        let key = key(alg);
        let ring = KeyRing::new(std::slice::from_ref(&key), now(), Duration::hours(1)).unwrap();
        let claims = claims();
        let genuine = ring.sign(&claims).unwrap();
        assert_eq!(ring.verify(&genuine).as_ref(), Ok(&claims));
        let other = key_ring_of(&self::key(alg));
        foreign.push(other.sign(&claims).unwrap());
        rings.push(Ring {
            alg,
            key,
            ring,
            claims,
            genuine,
        });
    }
    Tokens { rings, foreign }
});

fn key_ring_of(key: &SigningKey) -> KeyRing {
    KeyRing::new(std::slice::from_ref(key), now(), Duration::hours(1)).unwrap()
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Expands the placeholders of a corpus file for `ring`: `$KID`, `$ALG`,
/// `$CLAIMS` (the genuine claims as JSON), then `<<text>>` (base64url of
/// the text), then `$HEADER`, `$PAYLOAD`, `$SIGNATURE` and `$TOKEN` (the
/// genuine token and its parts).
fn expand(template: &str, ring: &Ring) -> String {
    let parts = segments(&ring.genuine);
    let text = template
        .replace("$KID", &ring.key.kid)
        .replace("$ALG", ring.alg.as_str())
        .replace("$CLAIMS", &serde_json::to_string(&ring.claims).unwrap());
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<<") {
        let Some(len) = rest[start + 2..].find(">>") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&b64(&rest[start + 2..start + 2 + len]));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out.replace("$HEADER", &parts[0])
        .replace("$PAYLOAD", &parts[1])
        .replace("$SIGNATURE", &parts[2])
        .replace("$TOKEN", &ring.genuine)
}

/// The property: every ring accepts its genuine token, with its claims, and
/// nothing else: no other string, however close, and no other ring's token.
///
/// One exception is tolerated, and pinned by
/// [`jwt_es256_high_s_twin_is_refused`]: ECDSA's high-s twin of the genuine
/// ES256 signature (same claims, same key, another spelling).
fn jwt_verdict(candidate: &str) -> TestCaseResult {
    for ring in &TOKENS.rings {
        let verdict = ring.ring.verify(candidate);
        if candidate == ring.genuine {
            prop_assert_eq!(
                verdict,
                Ok(ring.claims.clone()),
                "genuine {} refused",
                ring.alg
            );
        } else if ring.alg == KeyAlgorithm::Es256 && candidate == malleate(&ring.genuine, ring) {
            prop_assert!(verdict.is_err() || verdict == Ok(ring.claims.clone()));
        } else {
            prop_assert!(
                verdict.is_err(),
                "{} ring accepted a token it did not issue: {:?} -> {:?}",
                ring.alg,
                candidate,
                verdict
            );
        }
    }
    Ok(())
}

/// Target `jwt`: arbitrary bytes, placeholders expanded for each ring.
pub(crate) fn jwt_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    jwt_verdict(&text)?;
    for ring in &TOKENS.rings {
        jwt_verdict(&expand(&text, ring))?;
    }
    Ok(())
}

/// Three dot-separated parts that get past the first checks: base64url of
/// JSON (or not), so the fuzzing reaches the header and claims decoders.
fn jwt_shaped() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        (
            prop::sample::select(vec![
                "none", "None", "NONE", "HS256", "HS512", "RS256", "ES256", "ES384", "EdDSA",
                "ED25519", "",
            ]),
            prop::sample::select(vec!["fuzz-EdDSA", "fuzz-ES256", "fuzz-HS256", "", "x"]),
            json_value(),
        )
            .prop_map(|(alg, kid, extra)| {
                json!({"alg": alg, "kid": kid, "typ": "JWT", "x": extra}).to_string()
            }),
        hostile_text(),
    ];
    let payload = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        Just(serde_json::to_string(&claims()).unwrap()),
        hostile_text(),
    ];
    let signature = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80).prop_map(b64),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| STANDARD.encode(b)),
        Just(String::new()),
        hostile_text(),
    ];
    (header, payload, signature, any::<bool>()).prop_map(|(h, p, s, encode)| {
        if encode {
            format!("{}.{}.{s}", b64(h), b64(p))
        } else {
            format!("{h}.{p}.{s}")
        }
    })
}

#[test]
fn jwt_arbitrary_input_is_refused() {
    let input = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        jwt_shaped().prop_map(String::into_bytes),
        "[A-Za-z0-9_.=$<>{}\":-]{0,200}".prop_map(String::into_bytes),
    ];
    harness::check("jwt", 2000, input, |data| jwt_target(&data));
}

#[test]
fn jwt_corpus() {
    harness::check_corpus("jwt", jwt_target);
}

/// Something a token can be turned into.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, u8),
    Truncate(Index),
    SwapSegments(Index, Index),
    DropSegment(Index),
    DuplicateSegment(Index),
    ReplaceSegment(Index, Junk),
    /// The same bytes, spelt with padding or the standard alphabet.
    Respell(Index, Spelling),
    SetHeader(String, Value),
    RemoveHeader(String),
    DuplicateHeader(String, Value),
    SetClaim(String, Value),
    DuplicateClaim(String, Value),
    /// A segment of another ring's token, or of a foreign key's.
    Splice(Index, Index),
    AlgNone(String, bool),
    /// HMAC-SHA-256 keyed by something public about the key (RFC 8725 §2.1).
    HmacWithPublic(PublicForm),
    /// The other valid-looking signature: ECDSA (r, n-s), Ed25519 S+L.
    Malleate,
    Append(String),
    Prepend(String),
    FlipCase(Index),
}

#[derive(Debug, Clone)]
enum Junk {
    Base64(Vec<u8>),
    StdBase64(Vec<u8>),
    Text(String),
    Json(Value),
    Empty,
}

#[derive(Debug, Clone, Copy)]
enum Spelling {
    Padded,
    Standard,
    StandardPadded,
}

#[derive(Debug, Clone, Copy)]
enum PublicForm {
    Raw,
    Base64Url,
    Jwks,
}

const HEADER_KEYS: &[&str] = &[
    "alg", "kid", "typ", "cty", "jku", "jwk", "x5u", "x5c", "x5t", "crit", "b64", "zip", "enc",
];
const CLAIM_KEYS: &[&str] = &[
    "iss",
    "aud",
    "sub",
    "sid",
    "name",
    "iat",
    "nbf",
    "exp",
    "jti",
    "csrf",
    "generation",
    "ua",
    "net",
    "admin",
    "scope",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let junk = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..100).prop_map(Junk::Base64),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(Junk::StdBase64),
        hostile_text().prop_map(Junk::Text),
        json_value().prop_map(Junk::Json),
        Just(Junk::Empty),
    ];
    let spelling = prop::sample::select(vec![
        Spelling::Padded,
        Spelling::Standard,
        Spelling::StandardPadded,
    ]);
    let header_key = prop::sample::select(HEADER_KEYS);
    let claim_key = prop::sample::select(CLAIM_KEYS);
    let alg_none = prop::sample::select(vec!["none", "None", "NONE", "nOnE", ""]);
    let public = prop::sample::select(vec![
        PublicForm::Raw,
        PublicForm::Base64Url,
        PublicForm::Jwks,
    ]);
    let small = prop::sample::select(vec![
        "=", "==", ".", "..", " ", "\n", "\t", "\0", "%3D", "a",
    ]);
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1u8..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        1 => any::<Index>().prop_map(Mutation::DropSegment),
        1 => any::<Index>().prop_map(Mutation::DuplicateSegment),
        2 => (any::<Index>(), junk).prop_map(|(i, j)| Mutation::ReplaceSegment(i, j)),
        2 => (any::<Index>(), spelling).prop_map(|(i, s)| Mutation::Respell(i, s)),
        2 => (header_key.clone(), json_value())
            .prop_map(|(k, v)| Mutation::SetHeader(k.to_owned(), v)),
        1 => header_key.clone().prop_map(|k| Mutation::RemoveHeader(k.to_owned())),
        1 => (header_key, json_value())
            .prop_map(|(k, v)| Mutation::DuplicateHeader(k.to_owned(), v)),
        2 => (claim_key.clone(), json_value())
            .prop_map(|(k, v)| Mutation::SetClaim(k.to_owned(), v)),
        1 => (claim_key, json_value())
            .prop_map(|(k, v)| Mutation::DuplicateClaim(k.to_owned(), v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(d, s)| Mutation::Splice(d, s)),
        1 => (alg_none, any::<bool>()).prop_map(|(a, keep)| Mutation::AlgNone(a.to_owned(), keep)),
        1 => public.prop_map(Mutation::HmacWithPublic),
        1 => Just(Mutation::Malleate),
        1 => small.clone().prop_map(|s| Mutation::Append(s.to_owned())),
        1 => small.prop_map(|s| Mutation::Prepend(s.to_owned())),
        1 => any::<Index>().prop_map(Mutation::FlipCase),
    ]
}

fn map_bytes(token: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = token.as_bytes().to_vec();
    f(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn map_segments(token: &str, f: impl FnOnce(&mut Vec<String>)) -> String {
    let mut parts = segments(token);
    f(&mut parts);
    parts.join(".")
}

/// The JSON object in base64url segment `text`, if it is one.
fn decode_object(text: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn edit_object(token: &str, segment: usize, f: impl FnOnce(&mut Map<String, Value>)) -> String {
    map_segments(token, |parts| {
        if let Some(part) = parts.get_mut(segment)
            && let Some(mut map) = decode_object(part)
        {
            f(&mut map);
            *part = b64(Value::Object(map).to_string());
        }
    })
}

/// `{"key": value, ...rest}`: a second member with a name already used.
fn duplicate_member(token: &str, segment: usize, key: &str, value: &Value) -> String {
    map_segments(token, |parts| {
        if let Some(part) = parts.get_mut(segment)
            && let Some(map) = decode_object(part)
        {
            let rest = Value::Object(map).to_string();
            let member = format!("{{{}:{value}", Value::from(key));
            let text = if rest == "{}" {
                format!("{member}}}")
            } else {
                format!("{member},{}", &rest[1..])
            };
            *part = b64(text);
        }
    })
}

/// `n - s` for P-256's group order `n`, big-endian.
fn p256_negate(s: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + 256 * borrow) as u8;
    }
    out
}

/// `s + L` for Ed25519's group order `L`, little-endian.
fn ed25519_add_order(s: &[u8]) -> Vec<u8> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10,
    ];
    let mut out = vec![0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let d = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = d as u8;
        carry = d >> 8;
    }
    out
}

/// The same message, with the other signature that also verifies
/// mathematically (where the algorithm has one).
fn malleate(token: &str, ring: &Ring) -> String {
    map_segments(token, |parts| {
        let Some(sig) = parts.get(2).and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()) else {
            return;
        };
        let other = match (ring.alg, sig.len()) {
            (KeyAlgorithm::Es256, 64) => [&sig[..32], &p256_negate(&sig[32..])].concat(),
            (KeyAlgorithm::EdDsa, 64) => [&sig[..32], &ed25519_add_order(&sig[32..])].concat(),
            _ => return,
        };
        parts[2] = b64(other);
    })
}

fn hmac_with_public(token: &str, ring: &Ring, form: PublicForm) -> String {
    let secret = match form {
        PublicForm::Raw => ring.key.public_key.clone(),
        PublicForm::Base64Url => b64(&ring.key.public_key).into_bytes(),
        PublicForm::Jwks => serde_json::to_vec(ring.ring.jwks()).unwrap(),
    };
    let Ok(key) = EncodingKey::from_secret(&secret) else {
        return token.to_owned();
    };
    let header = b64(json!({"alg": "HS256", "kid": ring.key.kid, "typ": "JWT"}).to_string());
    let payload = segments(token).get(1).cloned().unwrap_or_default();
    let message = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}

fn apply(token: &str, ring: &Ring, m: &Mutation) -> String {
    let tokens = &*TOKENS;
    match m {
        Mutation::FlipBit(i, bit) => map_bytes(token, |b| {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] ^= 1 << bit;
            }
        }),
        Mutation::SetByte(i, v) => map_bytes(token, |b| {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] = *v;
            }
        }),
        Mutation::Insert(i, v) => map_bytes(token, |b| {
            let at = i.index(b.len() + 1);
            b.splice(at..at, v.iter().copied());
        }),
        Mutation::Remove(i, n) => map_bytes(token, |b| {
            if !b.is_empty() {
                let at = i.index(b.len());
                let end = (at + usize::from(*n)).min(b.len());
                b.drain(at..end);
            }
        }),
        Mutation::Truncate(i) => map_bytes(token, |b| b.truncate(i.index(b.len() + 1))),
        Mutation::SwapSegments(a, c) => map_segments(token, |p| {
            let (a, c) = (a.index(p.len()), c.index(p.len()));
            p.swap(a, c);
        }),
        Mutation::DropSegment(i) => map_segments(token, |p| {
            p.remove(i.index(p.len()));
        }),
        Mutation::DuplicateSegment(i) => map_segments(token, |p| {
            let at = i.index(p.len());
            p.insert(at, p[at].clone());
        }),
        Mutation::ReplaceSegment(i, junk) => map_segments(token, |p| {
            let at = i.index(p.len());
            p[at] = match junk {
                Junk::Base64(b) => b64(b),
                Junk::StdBase64(b) => STANDARD.encode(b),
                Junk::Text(t) => t.clone(),
                Junk::Json(v) => b64(v.to_string()),
                Junk::Empty => String::new(),
            };
        }),
        Mutation::Respell(i, spelling) => map_segments(token, |p| {
            let at = i.index(p.len());
            if let Ok(bytes) = URL_SAFE_NO_PAD.decode(&p[at]) {
                p[at] = match spelling {
                    Spelling::Padded => URL_SAFE.encode(&bytes),
                    Spelling::Standard => STANDARD.encode(&bytes).trim_end_matches('=').to_owned(),
                    Spelling::StandardPadded => STANDARD.encode(&bytes),
                };
            }
        }),
        Mutation::SetHeader(k, v) => edit_object(token, 0, |m| {
            m.insert(k.clone(), v.clone());
        }),
        Mutation::RemoveHeader(k) => edit_object(token, 0, |m| {
            m.remove(k);
        }),
        Mutation::DuplicateHeader(k, v) => duplicate_member(token, 0, k, v),
        Mutation::SetClaim(k, v) => edit_object(token, 1, |m| {
            m.insert(k.clone(), v.clone());
        }),
        Mutation::DuplicateClaim(k, v) => duplicate_member(token, 1, k, v),
        Mutation::Splice(donor, segment) => {
            let donors: Vec<&String> = tokens
                .rings
                .iter()
                .map(|r| &r.genuine)
                .chain(&tokens.foreign)
                .collect();
            let donor = segments(donors[donor.index(donors.len())]);
            map_segments(token, |p| {
                let at = segment.index(p.len());
                if let Some(part) = donor.get(at) {
                    p[at] = part.clone();
                }
            })
        }
        Mutation::AlgNone(alg, keep_signature) => map_segments(token, |p| {
            p[0] = b64(json!({"alg": alg, "kid": ring.key.kid, "typ": "JWT"}).to_string());
            if !keep_signature && p.len() > 2 {
                p[2] = String::new();
            }
        }),
        Mutation::HmacWithPublic(form) => hmac_with_public(token, ring, *form),
        Mutation::Malleate => malleate(token, ring),
        Mutation::Append(s) => format!("{token}{s}"),
        Mutation::Prepend(s) => format!("{s}{token}"),
        Mutation::FlipCase(i) => map_bytes(token, |b| {
            if !b.is_empty() {
                let at = i.index(b.len());
                if b[at].is_ascii_alphabetic() {
                    b[at] ^= 0x20;
                }
            }
        }),
    }
}

#[test]
fn jwt_mutations_of_a_genuine_token_are_refused() {
    let input = (
        0..TOKENS.rings.len(),
        prop::collection::vec(mutation(), 1..5),
    );
    harness::check("jwt_mutation", 1500, input, |(ring, mutations)| {
        let ring = &TOKENS.rings[ring];
        let mut token = ring.genuine.clone();
        for m in &mutations {
            token = apply(&token, ring, m);
        }
        jwt_verdict(&token)
    });
}

/// Ed25519 verifiers must refuse S+L (RFC 8032 §5.1.7), so an EdDSA token
/// has one spelling.
#[test]
fn jwt_eddsa_malleated_signature_is_refused() {
    let ring = &TOKENS.rings[0];
    assert_eq!(ring.alg, KeyAlgorithm::EdDsa);
    let twin = malleate(&ring.genuine, ring);
    assert_ne!(twin, ring.genuine);
    assert!(ring.ring.verify(&twin).is_err(), "{twin}");
}

/// FINDING (low severity, left unfixed on purpose): ECDSA accepts (r, n-s)
/// as well as (r, s), and neither jsonwebtoken nor `KeyRing::verify` insist
/// on low s, so every genuine ES256 token has a second spelling that
/// verifies with the same claims. Nothing in latchkey keys on a token's
/// text except the verified-token cache (one more entry), so this is
/// informational; it fails until `verify` refuses high-s signatures.
#[test]
#[ignore = "finding: ES256 accepts the high-s twin of a genuine signature"]
fn jwt_es256_high_s_twin_is_refused() {
    let ring = &TOKENS.rings[1];
    assert_eq!(ring.alg, KeyAlgorithm::Es256);
    let twin = malleate(&ring.genuine, ring);
    assert_ne!(twin, ring.genuine);
    assert!(ring.ring.verify(&twin).is_err(), "accepted {twin}");
}

/// Target `jwt_claims`: a payload signed with the ring's own key, so the
/// claims decoder behind the signature is fuzzed too. Whatever it accepts
/// must be exactly what serde reads from those bytes.
pub(crate) fn jwt_claims_target(payload: &[u8]) -> TestCaseResult {
    for ring in &TOKENS.rings {
        let key = match ring.alg {
            KeyAlgorithm::EdDsa => EncodingKey::from_ed_der(&ring.key.private_der),
            KeyAlgorithm::Es256 => EncodingKey::from_ec_der(&ring.key.private_der),
            KeyAlgorithm::Hs256 => EncodingKey::from_secret(&ring.key.private_der).unwrap(),
        };
        let alg = match ring.alg {
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Hs256 => Algorithm::HS256,
        };
        let header = b64(json!({"alg": ring.alg.as_str(), "kid": ring.key.kid}).to_string());
        let message = format!("{header}.{}", b64(payload));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
        let verdict = ring.ring.verify(&format!("{message}.{signature}"));
        let expected = serde_json::from_slice::<Claims>(payload);
        match (&verdict, &expected) {
            (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(
                false,
                "{}: verify {:?} but serde {:?}",
                ring.alg,
                verdict,
                expected.map_err(|e| e.to_string())
            ),
        }
    }
    Ok(())
}

#[test]
fn jwt_signed_claims_decode_exactly() {
    let base = serde_json::to_value(claims()).unwrap();
    let payload = prop_oneof![
        2 => (prop::sample::select(CLAIM_KEYS), json_value()).prop_map(move |(k, v)| {
            let mut c = base.clone();
            c[k] = v;
            c.to_string().into_bytes()
        }),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    harness::check("jwt_claims", 400, payload, |p| jwt_claims_target(&p));
}

#[test]
fn jwt_claims_corpus() {
    harness::check_corpus("jwt_claims", jwt_claims_target);
}

// ---------------------------------------------------------------------------
// csrf_token: CsrfToken::matches

static CSRF: LazyLock<CsrfToken> = LazyLock::new(|| CsrfToken::generate().unwrap());

/// Target `csrf_token`: `$CSRF` stands for the session's token. Only that
/// exact text matches; an empty stored token matches nothing.
pub(crate) fn csrf_target(data: &[u8]) -> TestCaseResult {
    let presented = String::from_utf8_lossy(data).replace("$CSRF", CSRF.expose());
    prop_assert_eq!(CSRF.matches(&presented), presented == CSRF.expose());
    prop_assert!(!CsrfToken::from_stored(String::new()).matches(&presented));
    prop_assert_eq!(
        CsrfToken::from_stored(presented.clone()).matches(&presented),
        !presented.is_empty()
    );
    Ok(())
}

#[test]
fn csrf_token_matches_only_itself() {
    let genuine = CSRF.expose().to_owned();
    let near = (any::<Index>(), any::<char>(), 0u8..4).prop_map(move |(i, c, how)| {
        let mut chars: Vec<char> = genuine.chars().collect();
        let at = i.index(chars.len());
        match how {
            0 => chars[at] = c,
            1 => {
                chars.remove(at);
            }
            2 => chars.insert(at, c),
            _ => chars[at] = chars[at].to_ascii_uppercase(),
        }
        chars.into_iter().collect::<String>()
    });
    let input = prop_oneof![
        hostile_text(),
        near,
        Just("$CSRF".to_owned()),
        "( |\t)?\\$CSRF( |\t|=|;)?".prop_map(String::from),
    ];
    harness::check("csrf_token", 1000, input, |s| csrf_target(s.as_bytes()));
}

#[test]
fn csrf_token_corpus() {
    harness::check_corpus("csrf_token", csrf_target);
}

// ---------------------------------------------------------------------------
// user_agent: Device::parse, AgentBinding::of/encode/decode, ClientContext

const OS_NAMES: [&str; 7] = [
    "Windows", "macOS", "Linux", "Android", "iOS", "ChromeOS", "Unknown",
];

/// Target `user_agent`: any text parses to a bounded label, and its binding
/// survives the round trip through a JWT claim and permits its own agent.
pub(crate) fn user_agent_target(data: &[u8]) -> TestCaseResult {
    let ua = String::from_utf8_lossy(data);
    let device = Device::parse(&ua);
    let label = device.label();
    prop_assert!(!label.is_empty());
    prop_assert!(!device.family.is_empty());
    prop_assert!(device.family.len() <= 32, "family {:?}", device.family);
    prop_assert!(device.version.as_ref().is_none_or(|v| v.len() <= 32));
    prop_assert!(OS_NAMES.contains(&device.os.as_str()), "os {:?}", device.os);
    prop_assert_eq!(device_label(Some(&ua)), label);

    let binding = AgentBinding::of(Some(&ua));
    let text = binding.encode();
    prop_assert!(text.len() <= 64, "binding {:?} of {:?}", text, ua);
    prop_assert_eq!(AgentBinding::decode(&text), Some(binding.clone()));
    prop_assert!(binding.permits(&binding));
    prop_assert_eq!(
        ua.trim().is_empty(),
        binding == AgentBinding::of(None),
        "blank agents, and only they, bind as no agent"
    );

    let context = ClientContext::new(None, Some(&ua));
    let kept = context.user_agent.unwrap();
    prop_assert!(kept.len() <= USER_AGENT_MAX_BYTES && ua.starts_with(kept.as_str()));
    prop_assert!(ua.len() <= USER_AGENT_MAX_BYTES || kept.len() + 4 > USER_AGENT_MAX_BYTES);
    Ok(())
}

const REAL_AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) \
     SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)",
    "MyApp/3.4.1 CFNetwork/1410.0.3 Darwin/22.6.0",
    "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "okhttp/4.12.0",
];

fn user_agent() -> impl Strategy<Value = String> {
    let product = (
        "[A-Za-z0-9._+-]{0,40}",
        "[0-9.]{0,12}|[A-Za-z0-9._+-]{0,40}",
    )
        .prop_map(|(n, v)| format!("{n}/{v}"));
    let comment = prop::collection::vec("[A-Za-z0-9 ._;:/+-]{0,20}", 0..4)
        .prop_map(|parts| format!("({})", parts.join("; ")));
    let word = prop_oneof![
        product,
        comment,
        Just("(".to_owned()),
        Just(")".to_owned()),
        prop::sample::select(vec![
            "Android",
            "iPhone",
            "CrOS",
            "Windows",
            "Macintosh",
            "Linux"
        ])
        .prop_map(str::to_owned),
        hostile_text(),
    ];
    let mutated = (
        prop::sample::select(REAL_AGENTS),
        any::<Index>(),
        hostile_text(),
    )
        .prop_map(|(ua, i, s)| {
            let at = ua.floor_char_boundary(i.index(ua.len() + 1));
            format!("{}{s}{}", &ua[..at], &ua[at..])
        });
    prop_oneof![
        2 => prop::collection::vec(word, 0..8).prop_map(|w| w.join(" ")),
        2 => mutated,
        1 => prop::sample::select(REAL_AGENTS).prop_map(str::to_owned),
        2 => hostile_text(),
        // Multi-byte characters around the 512-byte cut.
        1 => (500usize..520, any::<char>()).prop_map(|(n, c)| format!("{}{c}{c}", "a".repeat(n))),
    ]
}

#[test]
fn user_agent_parsing_is_total_and_bounded() {
    harness::check("user_agent", 1500, user_agent(), |ua| {
        user_agent_target(ua.as_bytes())
    });
}

#[test]
fn user_agent_corpus() {
    harness::check_corpus("user_agent", user_agent_target);
}

// ---------------------------------------------------------------------------
// binding: AgentBinding::decode and NetworkBinding::decode of claim text

/// Target `binding`: a binding claim decodes only from the one spelling
/// its encoder gives; an address always lies in its own network.
pub(crate) fn binding_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    if let Some(agent) = AgentBinding::decode(&text) {
        prop_assert_eq!(agent.encode(), text.as_ref());
        prop_assert!(agent.permits(&agent));
    }
    if let Some(net) = NetworkBinding::decode(&text) {
        prop_assert_eq!(net.encode(), text.as_ref());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        let net = NetworkBinding::of(ip);
        prop_assert!(net.contains(ip));
        prop_assert_eq!(NetworkBinding::decode(&net.encode()), Some(net));
        prop_assert_eq!(net, NetworkBinding::of(ip.to_canonical()));
    }
    Ok(())
}

#[test]
fn binding_claims_decode_only_canonical_text() {
    let agent = (
        "[A-Za-z%0-9 ._/-]{0,50}",
        prop::option::of("[0-9+-]{0,12}"),
        prop::sample::select(vec![
            "Windows", "macOS", "Linux", "Android", "iOS", "ChromeOS", "Unknown", "linux", "",
        ]),
    )
        .prop_map(|(f, m, os)| match m {
            Some(m) => format!("{f}/{m};{os}"),
            None => format!("{f};{os}"),
        });
    let network = (any::<IpAddr>(), 0u8..130, any::<bool>()).prop_map(|(ip, len, bare)| {
        if bare {
            ip.to_string()
        } else {
            format!("{ip}/{len}")
        }
    });
    let canonical = any::<IpAddr>().prop_map(|ip| NetworkBinding::of(ip).encode());
    let input = prop_oneof![agent, network, canonical, hostile_text()];
    harness::check("binding", 1500, input, |t| binding_target(t.as_bytes()));
}

#[test]
fn binding_corpus() {
    harness::check_corpus("binding", binding_target);
}

// ---------------------------------------------------------------------------
// secret: SecretToken::parse

/// Target `secret`: what parses is exactly the canonical base64url text of
/// 32 bytes, so it could have come from `SecretToken::generate`.
pub(crate) fn secret_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    let canonical = URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .ok()
        .filter(|b| b.len() == 32 && b64(b) == text);
    match SecretToken::parse(&text) {
        Some(secret) => {
            prop_assert!(canonical.is_some(), "accepted non-canonical {:?}", text);
            prop_assert_eq!(secret.expose(), text.as_ref());
        }
        None => prop_assert!(canonical.is_none(), "refused canonical {:?}", text),
    }
    Ok(())
}

#[test]
fn secret_parse_accepts_exactly_canonical_secrets() {
    let valid = any::<[u8; 32]>().prop_map(b64);
    let near = (any::<[u8; 32]>(), any::<Index>(), any::<u8>()).prop_map(|(b, i, v)| {
        let mut text = b64(b).into_bytes();
        let at = i.index(text.len());
        text[at] = v;
        String::from_utf8_lossy(&text).into_owned()
    });
    let padded = any::<[u8; 32]>().prop_map(|b| URL_SAFE.encode(b));
    let input = prop_oneof![valid, near, padded, "[A-Za-z0-9_-]{42,44}", hostile_text()];
    harness::check("secret", 1500, input, |t| secret_target(t.as_bytes()));
}

#[test]
fn secret_corpus() {
    harness::check_corpus("secret", secret_target);
}

// ---------------------------------------------------------------------------
// username_password: Username::parse, Password::parse_new/parse_attempt

/// Target `username_password`: the input is both a username and a password.
pub(crate) fn username_password_target(data: &[u8]) -> TestCaseResult {
    let raw = String::from_utf8_lossy(data);
    match Username::parse(&raw) {
        Ok(name) => {
            let text = name.as_str();
            prop_assert!(!text.is_empty() && text.chars().count() <= USERNAME_MAX_CHARS);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(
                Username::parse(text).ok(),
                Some(name.clone()),
                "not idempotent"
            );
            let _ = name.key();
        }
        Err(_) => prop_assert!(
            !(1..=USERNAME_MAX_CHARS).contains(&raw.chars().count())
                || !raw.chars().all(|c| c.is_ascii_alphanumeric()),
            "refused a plain name {:?}",
            raw
        ),
    }
    if let Ok(name) = Username::parse(&raw)
        && name.as_str().is_ascii()
    {
        let upper = Username::parse(&name.as_str().to_ascii_uppercase()).unwrap();
        prop_assert_eq!(upper.key(), name.key(), "case must not make another user");
    }
    let chars = raw.chars().count();
    prop_assert_eq!(
        Password::parse_new(&raw).is_ok(),
        (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars)
    );
    prop_assert_eq!(
        Password::parse_attempt(&raw).is_ok(),
        chars <= PASSWORD_MAX_CHARS
    );
    if let Ok(p) = Password::parse_attempt(&raw) {
        prop_assert_eq!(p.expose(), raw.as_bytes(), "passwords are never altered");
    }
    Ok(())
}

#[test]
fn usernames_and_passwords_parse_as_documented() {
    let input = prop_oneof![
        "[A-Za-z0-9]{0,70}",
        "[ \t]{0,3}[A-Za-zÀ-ÿΣσςß\u{301}\u{FF21}-\u{FF3A}]{1,66}[ \t]{0,3}",
        hostile_text(),
        (1000usize..1030).prop_map(|n| "é".repeat(n)),
    ];
    harness::check("username_password", 1000, input, |t| {
        username_password_target(t.as_bytes())
    });
}

#[test]
fn username_password_corpus() {
    harness::check_corpus("username_password", username_password_target);
}

// ---------------------------------------------------------------------------
// duration: HumanDuration (the config's and the CLI's durations)

/// Target `duration`: what parses is positive, at most ten years, and reads
/// back from its own display.
pub(crate) fn duration_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = HumanDuration::from_str(&text) {
        prop_assert!(!d.as_std().is_zero());
        prop_assert!(d.as_std() <= std::time::Duration::from_secs(10 * 366 * 24 * 3600));
        prop_assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d), "{}", d);
        let _ = d.as_time();
    }
    Ok(())
}

#[test]
fn durations_round_trip() {
    let unit = prop::sample::select(vec![
        "ns", "us", "ms", "s", "m", "h", "d", "w", "M", "y", "sec", "min", "days", "",
    ]);
    let input = prop_oneof![
        prop::collection::vec((0u64..100_000, unit), 1..4).prop_map(|parts| {
            parts
                .iter()
                .map(|(n, u)| format!("{n}{u}"))
                .collect::<Vec<_>>()
                .join(" ")
        }),
        "[0-9]{1,25}(ms|s|m|h|d)",
        hostile_text(),
    ];
    harness::check("duration", 1000, input, |t| duration_target(t.as_bytes()));
}

#[test]
fn duration_corpus() {
    harness::check_corpus("duration", duration_target);
}

// ---------------------------------------------------------------------------
// public_id: SessionId / UserId from a URL path

/// Target `public_id`: an id parses back from its display, and anything
/// that parses is some UUID's display (or another UUID spelling of it).
pub(crate) fn public_id_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    if let Ok(id) = SessionId::from_str(&text) {
        prop_assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
        prop_assert_eq!(
            UserId::from_str(&text).map(|u| u.as_uuid()),
            Ok(id.as_uuid())
        );
    }
    Ok(())
}

#[test]
fn public_ids_round_trip() {
    let input = prop_oneof![
        any::<u128>().prop_map(|n| uuid_text(n, false)),
        any::<u128>().prop_map(|n| uuid_text(n, true)),
        "[0-9a-fA-F{}urn:uid-]{30,45}",
        hostile_text(),
    ];
    harness::check("public_id", 1000, input, |t| public_id_target(t.as_bytes()));
}

fn uuid_text(n: u128, simple: bool) -> String {
    let hex = format!("{n:032x}");
    if simple {
        hex
    } else {
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

#[test]
fn public_id_corpus() {
    harness::check_corpus("public_id", public_id_target);
}

// ---------------------------------------------------------------------------
// event_cursor: EventCursor::decode of `GET /auth/events?cursor=`

/// Target `event_cursor`: whatever decodes is stable: its own encoding
/// decodes to it again.
pub(crate) fn event_cursor_target(data: &[u8]) -> TestCaseResult {
    let text = String::from_utf8_lossy(data);
    if let Some(cursor) = EventCursor::decode(&text) {
        let again = cursor.encode();
        prop_assert_eq!(EventCursor::decode(&again), Some(cursor), "{}", again);
    }
    Ok(())
}

#[test]
fn event_cursors_decode_stably() {
    let input = prop_oneof![
        (any::<i64>(), any::<u128>()).prop_map(|(ms, id)| b64(format!("{ms}.{id:032x}"))),
        (any::<i64>(), any::<u128>())
            .prop_map(|(ms, id)| { b64(format!("{ms}.{}", uuid_text(id, false))) }),
        ("[+-]?[0-9]{0,25}", "[0-9a-fA-F{}urn:uid-]{0,45}")
            .prop_map(|(ms, id)| b64(format!("{ms}.{id}"))),
        prop::collection::vec(any::<u8>(), 0..120).prop_map(b64),
        hostile_text(),
    ];
    harness::check("event_cursor", 1000, input, |t| {
        event_cursor_target(t.as_bytes())
    });
}

#[test]
fn event_cursor_corpus() {
    harness::check_corpus("event_cursor", event_cursor_target);
}
