//! Attacks on tokens, run the way published JWT attack tools (jwt_tool and
//! its kin) run them: `alg: none`, HMAC keyed with the public key, hostile
//! `kid`s, key material offered by the header, the ECDSA "psychic
//! signature", tampered claims, expired, foreign and lookalike tokens.
//!
//! Every attack must be the contract's `401 unauthenticated` on `/auth/me`
//! and on the forward-auth `/auth/verify`, presented as a bearer token and
//! as the session cookie; never a 5xx, never an identity header, never a
//! renewed token. After each batch the genuine token must still work.
//!
//! Each test runs in this run's strategy. Attacks that only mean something
//! against JWTs run, in the `session` run, against `stateful-jwt` (as
//! `jwt.rs` does).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64},
};
use jwt_simple::prelude::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair, ES256PublicKey, Ed25519KeyPair,
    Ed25519PublicKey, EdDSAKeyPairLike, EdDSAPublicKeyLike, HS256Key, HS384Key, HS512Key, MACLike,
};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::support::*;

const ME: &str = "/auth/me";
/// A user or session id that is nobody's.
const NIL: &str = "00000000-0000-0000-0000-000000000000";
const VERIFY: &str = "/auth/verify";

/// This run's strategy where it issues JWTs; `stateful-jwt` in the
/// `session` run.
fn jwt_strategy() -> String {
    match strategy().as_str() {
        "session" => "stateful-jwt".to_owned(),
        other => other.to_owned(),
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// A JSON value as a JWS segment.
fn enc(v: &Value) -> String {
    b64(v.to_string())
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&B64.decode(segment).expect("base64url")).expect("JSON")
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    i64::try_from(secs).expect("time")
}

/// A genuine token taken apart.
#[derive(Clone)]
struct Jwt {
    raw: String,
    h: String,
    p: String,
    s: String,
    header: Value,
    claims: Value,
}

impl Jwt {
    fn parse(raw: &str) -> Self {
        let parts: Vec<&str> = raw.split('.').collect();
        assert_eq!(parts.len(), 3, "not a compact JWS: {raw}");
        Self {
            raw: raw.to_owned(),
            h: parts[0].to_owned(),
            p: parts[1].to_owned(),
            s: parts[2].to_owned(),
            header: decode(parts[0]),
            claims: decode(parts[1]),
        }
    }

    fn kid(&self) -> String {
        self.header["kid"].as_str().expect("kid").to_owned()
    }

    fn alg(&self) -> String {
        self.header["alg"].as_str().expect("alg").to_owned()
    }

    /// `header` over the genuine payload and signature.
    fn with_header(&self, header: &Value) -> String {
        format!("{}.{}.{}", enc(header), self.p, self.s)
    }

    /// The genuine header and signature over claims changed by `edit`.
    fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims.clone();
        edit(&mut claims);
        format!("{}.{}.{}", self.h, enc(&claims), self.s)
    }

    /// The genuine header and payload with another signature.
    fn with_signature(&self, signature: &str) -> String {
        format!("{}.{}.{signature}", self.h, self.p)
    }
}

/// `header.payload` (both already segments) signed by `sign`.
fn signed(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{header}.{payload}");
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// An HMAC tag, the way an attacker computes one for `alg`.
fn hmac(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    match alg {
        "HS256" => HS256Key::from_bytes(secret).authentication_tag(input),
        "HS384" => HS384Key::from_bytes(secret).authentication_tag(input),
        "HS512" => HS512Key::from_bytes(secret).authentication_tag(input),
        other => panic!("not an HMAC algorithm: {other}"),
    }
}

/// `header` and `payload` (a segment) with an HMAC signature under
/// `secret`, using the header's `alg`.
fn hmac_signed(header: &Value, payload: &str, secret: &[u8]) -> String {
    let alg = header["alg"].as_str().expect("alg").to_owned();
    signed(&enc(header), payload, |input| hmac(&alg, secret, input))
}

/// A raw Ed25519 signature.
fn ed25519(key: &Ed25519KeyPair, input: &[u8]) -> Vec<u8> {
    key.key_pair().as_ref().sk.sign(input, None).to_vec()
}

/// A raw ES256 signature (`r || s`, as JWS has it).
fn es256(key: &ES256KeyPair, input: &[u8]) -> Vec<u8> {
    key.key_pair()
        .as_ref()
        .sign_recoverable(input)
        .0
        .normalize_s()
        .to_vec()
}

/// SubjectPublicKeyInfo DER of an Ed25519 public key.
fn ed25519_spki(x: &[u8]) -> Vec<u8> {
    let prefix = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    [&prefix[..], x].concat()
}

/// SubjectPublicKeyInfo DER of a P-256 public key (uncompressed point).
fn p256_spki(point: &[u8]) -> Vec<u8> {
    let prefix = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    [&prefix[..], point].concat()
}

/// PEM of a public key DER, lines of 64 as OpenSSL writes them.
fn pem(der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let mut out = "-----BEGIN PUBLIC KEY-----\n".to_owned();
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The spellings of a published key that key-confusion attacks try as the
/// HMAC secret: raw bytes, DER, PEM with and without its last newline, the
/// JWK's own text and the whole JWKS document.
fn public_key_spellings(jwk: &Value, jwks_text: &str) -> Vec<(String, Vec<u8>)> {
    let field = |name: &str| B64.decode(jwk[name].as_str().expect(name)).expect(name);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    match jwk["kty"].as_str() {
        Some("OKP") => {
            let x = field("x");
            let der = ed25519_spki(&x);
            out.push(("raw x".into(), x.clone()));
            out.push(("DER".into(), der.clone()));
            out.push(("PEM".into(), pem(&der).into_bytes()));
            out.push(("PEM without newline".into(), pem(&der).trim_end().into()));
        }
        Some("EC") => {
            let (x, y) = (field("x"), field("y"));
            let point = [&[4u8][..], &x, &y].concat();
            let compressed = [&[2 | (y[31] & 1)][..], &x].concat();
            let der = p256_spki(&point);
            out.push(("uncompressed point".into(), point));
            out.push(("x || y".into(), [&x[..], &y].concat()));
            out.push(("compressed point".into(), compressed));
            out.push(("x".into(), x));
            out.push(("DER".into(), der.clone()));
            out.push(("PEM".into(), pem(&der).into_bytes()));
            out.push(("PEM without newline".into(), pem(&der).trim_end().into()));
        }
        other => panic!("unexpected key type {other:?} in {jwk}"),
    }
    out.push(("x as text".into(), jwk["x"].as_str().unwrap().into()));
    out.push(("JWK text".into(), jwk.to_string().into_bytes()));
    out.push(("JWKS text".into(), jwks_text.as_bytes().to_vec()));
    out
}

/// `segment` with the unused low bits of its last base64url character set:
/// the same bytes to a lenient decoder, another string to a strict one.
fn non_canonical(segment: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if segment.len() % 4 < 2 {
        return None;
    }
    let last = *segment.as_bytes().last()?;
    let value = ALPHABET.iter().position(|c| *c == last)?;
    let flipped = char::from(ALPHABET[value | 1]);
    (value & 1 == 0).then(|| format!("{}{flipped}", &segment[..segment.len() - 1]))
}

/// `GET path` with one header of raw bytes.
async fn present(server: &Server, path: &str, name: HeaderName, value: HeaderValue) -> Reply {
    Reply::from(
        http()
            .get(server.url(path))
            .header(name, value)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// Asserts that `r` refuses the attack as the contract says.
fn refused(r: &Reply, what: &str, path: &str, transport: &str) {
    let ctx = format!("{what} (as {transport} on {path})");
    assert!(
        !r.status.is_server_error(),
        "{ctx}: server error {}: {}",
        r.status,
        r.raw
    );
    assert!(
        r.status == 401 && r.body["error"] == "unauthenticated",
        "{ctx}: expected 401 unauthenticated, got {} {}",
        r.status,
        r.raw
    );
    r.error(401, "unauthenticated");
    if transport == "bearer" {
        let challenge = r.header("www-authenticate");
        assert!(
            challenge.is_some_and(|c| c.starts_with("Bearer")),
            "{ctx}: WWW-Authenticate {challenge:?}"
        );
    }
    for name in [
        "x-auth-user-id",
        "x-auth-username",
        "x-auth-session-id",
        "x-refreshed-token",
    ] {
        assert!(r.header(name).is_none(), "{ctx}: answered with {name}");
    }
    if let Some(cookie) = r.session_cookie() {
        let pair = cookie.split(';').next().unwrap_or_default();
        assert!(
            pair.ends_with('='),
            "{ctx}: a session cookie was set: {cookie}"
        );
    }
}

/// Presents `token` as a bearer token and as the session cookie to
/// `/auth/me` and `/auth/verify`: each must be refused.
async fn attack(server: &Server, token: impl AsRef<[u8]>, what: &str) {
    let token = token.as_ref();
    let bearer = HeaderValue::from_bytes(&[&b"Bearer "[..], token].concat())
        .unwrap_or_else(|_| panic!("{what}: not a header value (use attack_raw)"));
    // A `;` would end the cookie: only the part before it would be tried.
    let cookie = (!token.contains(&b';')).then(|| {
        HeaderValue::from_bytes(&[&b"latchkey_session="[..], token].concat()).expect("cookie")
    });
    for path in [ME, VERIFY] {
        let r = present(server, path, AUTHORIZATION, bearer.clone()).await;
        refused(&r, what, path, "bearer");
        if let Some(cookie) = &cookie {
            let r = present(server, path, COOKIE, cookie.clone()).await;
            refused(&r, what, path, "cookie");
        }
    }
}

/// `GET path` over a plain socket with `header` as one raw header line,
/// for bytes no HTTP client library will send. Returns the status and the
/// whole response.
async fn raw_get(server: &Server, path: &str, header: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    request.extend_from_slice(header);
    request.extend_from_slice(b"\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        stream.write_all(&request).await.expect("write");
        let mut out = Vec::new();
        // The server may close before reading all: what came back counts.
        let _ = stream.read_to_end(&mut out).await;
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("raw request timed out");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Presents `token` (bytes no client library sends in a header) on a raw
/// socket: refused by the HTTP parser (400) or by latchkey (401), never
/// served and never a 5xx.
async fn attack_raw(server: &Server, token: &[u8], what: &str) {
    for path in [ME, VERIFY] {
        for prefix in [&b"Authorization: Bearer "[..], b"Cookie: latchkey_session="] {
            let line = [prefix, token].concat();
            let (status, response) = raw_get(server, path, &line).await;
            let ctx = format!("{what} ({} on {path})", text(prefix).trim());
            assert!(
                status == 400 || status == 401,
                "{ctx}: expected 400 or 401, got {status}: {response}"
            );
            if status == 401 {
                assert!(
                    response.contains("\"unauthenticated\""),
                    "{ctx}: {response}"
                );
            }
            assert!(
                !response.to_ascii_lowercase().contains("x-auth-user-id"),
                "{ctx}: {response}"
            );
        }
    }
}

/// The genuine bearer token still works on both endpoints.
async fn genuine(server: &Server, token: &str, user_id: &str) {
    let me = get_bearer(server, ME, token).await;
    assert_eq!(
        me.status, 200,
        "the genuine token stopped working: {}",
        me.raw
    );
    assert_eq!(me.body["user_id"], user_id, "{}", me.raw);
    let v = get_bearer(server, VERIFY, token).await;
    assert_eq!(
        v.status, 200,
        "the genuine token stopped working: {}",
        v.raw
    );
    assert_eq!(v.header("x-auth-user-id"), Some(user_id));
}

/// The genuine session cookie still works on both endpoints.
async fn genuine_cookie(server: &Server, cookie: &str, user_id: &str) {
    let value = HeaderValue::from_str(&format!("latchkey_session={cookie}")).expect("cookie");
    for path in [ME, VERIFY] {
        let r = present(server, path, COOKIE, value.clone()).await;
        assert_eq!(
            r.status, 200,
            "the genuine cookie stopped working on {path}: {}",
            r.raw
        );
    }
    let r = present(server, ME, COOKIE, value).await;
    assert_eq!(r.body["user_id"], user_id, "{}", r.raw);
}

/// A registered user logged in from an app and from a browser.
struct Victim {
    user_id: String,
    session_id: String,
    /// The app's bearer token.
    mobile: String,
    /// The browser's session cookie value (a JWT in the JWT strategies).
    web: String,
    /// The browser session's CSRF token.
    csrf: String,
}

async fn victim(server: &Server, name: &str) -> Victim {
    assert_eq!(register(server, name).await.status, 201);
    let mobile = mobile_login(server, name).await;
    let me = get_bearer(server, ME, &mobile).await;
    assert_eq!(me.status, 200, "{}", me.raw);
    let r = post_json(
        server,
        "/auth/login",
        json!({"username": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let cookie = r.session_cookie().expect("session cookie");
    let web = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .expect("cookie value")
        .1
        .to_owned();
    Victim {
        user_id: me.body["user_id"].as_str().expect("user_id").to_owned(),
        session_id: me.body["session_id"]
            .as_str()
            .expect("session_id")
            .to_owned(),
        mobile,
        web,
        csrf: r.body["csrf_token"]
            .as_str()
            .expect("csrf_token")
            .to_owned(),
    }
}

/// A JWT server of this run with `LATCHKEY_JWT_ALGORITHM` set to `alg`.
fn jwt_server(alg: &str) -> Server {
    Server::start_with_env(
        &["--strategy", &jwt_strategy()],
        &[("LATCHKEY_JWT_ALGORITHM", alg)],
    )
}

async fn jwks(server: &Server) -> (Value, String) {
    let r = Reply::from(
        http()
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    (r.body, r.raw)
}

/// A server on a database this file can read, so a test can take the
/// signing key out of it as a thief with a copy of the store could, and
/// sign tokens that are *correctly* signed yet must be refused for their
/// claims. (This reads the `signing_keys` and `sessions` tables directly.)
struct Readable {
    // Dropped in this order: the process, then its database.
    server: Server,
    url: String,
    _postgres: Option<Database>,
    _dir: tempfile::TempDir,
}

fn readable_server(strategy: &str, env: &[(&str, &str)]) -> Readable {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = (backend() == "postgres").then(Database::postgres);
    let url = postgres
        .as_ref()
        .map_or_else(|| database_url(dir.path()), |db| db.url.clone());
    let server = Server::start_shared(&url, &["--strategy", strategy], env);
    Readable {
        server,
        url,
        _postgres: postgres,
        _dir: dir,
    }
}

/// Runs `sql` on either backend and maps each row.
macro_rules! query_rows {
    ($url:expr, $sql:expr, |$row:ident| $map:expr) => {{
        use sqlx::{Connection, Row};
        if $url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect($url).await.expect("connect");
            let rows = sqlx::query($sql).fetch_all(&mut conn).await.expect("query");
            rows.into_iter().map(|$row| $map).collect::<Vec<_>>()
        } else {
            let mut conn = sqlx::SqliteConnection::connect($url)
                .await
                .expect("connect");
            let rows = sqlx::query($sql).fetch_all(&mut conn).await.expect("query");
            rows.into_iter().map(|$row| $map).collect::<Vec<_>>()
        }
    }};
}

/// The deployment's own signing key, as stored.
enum ServerKey {
    Ed(Ed25519KeyPair),
    Es(ES256KeyPair),
    Hs(Vec<u8>),
}

impl ServerKey {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed(key) => ed25519(key, input),
            Self::Es(key) => es256(key, input),
            Self::Hs(secret) => hmac("HS256", secret, input),
        }
    }
}

/// The current signing key of the database at `url`: its kid and key.
async fn server_key(url: &str) -> (String, ServerKey) {
    let keys = query_rows!(
        url,
        "SELECT kid, algorithm, private_der, public_key FROM signing_keys \
         WHERE retired_at IS NULL ORDER BY created_at DESC",
        |row| (
            row.get::<String, _>(0),
            row.get::<String, _>(1),
            row.get::<Vec<u8>, _>(2),
            row.get::<Vec<u8>, _>(3),
        )
    );
    let (kid, alg, private, public) = keys.into_iter().next().expect("a signing key");
    let key = match alg.as_str() {
        "EdDSA" => {
            // PKCS#8: the 32-byte seed is the OCTET STRING inside the
            // privateKey OCTET STRING.
            let at = private
                .windows(4)
                .position(|w| w == [0x04, 0x22, 0x04, 0x20])
                .expect("Ed25519 seed in PKCS#8")
                + 4;
            let pair = [&private[at..at + 32], &public[..]].concat();
            let key = Ed25519KeyPair::from_bytes(&pair).expect("Ed25519 key");
            assert_eq!(key.public_key().to_bytes(), public);
            ServerKey::Ed(key)
        }
        "ES256" => ServerKey::Es(ES256KeyPair::from_der(&private).expect("P-256 key")),
        "HS256" => ServerKey::Hs(private),
        other => panic!("unexpected key algorithm {other}"),
    };
    (kid, key)
}

#[tokio::test]
async fn the_attack_signers_make_tokens_that_really_verify() {
    // The forgeries below are only worth something if their signatures are
    // right for the key they claim: checked here with jwt-simple.
    let now = unix_now();
    let claims = enc(&json!({"sub": "attacker", "iat": now, "nbf": now, "exp": now + 600}));
    let ed = Ed25519KeyPair::generate();
    let token = signed(&enc(&json!({"alg": "EdDSA", "typ": "JWT"})), &claims, |i| {
        ed25519(&ed, i)
    });
    ed.public_key()
        .verify_token::<Value>(&token, None)
        .expect("Ed25519 forgery verifies");
    let es = ES256KeyPair::generate();
    let token = signed(&enc(&json!({"alg": "ES256", "typ": "JWT"})), &claims, |i| {
        es256(&es, i)
    });
    es.public_key()
        .verify_token::<Value>(&token, None)
        .expect("ES256 forgery verifies");
    let secret = [7u8; 32];
    for alg in ["HS256", "HS384", "HS512"] {
        let token = hmac_signed(&json!({"alg": alg, "typ": "JWT"}), &claims, &secret);
        let checked = match alg {
            "HS256" => HS256Key::from_bytes(&secret).verify_token::<Value>(&token, None),
            "HS384" => HS384Key::from_bytes(&secret).verify_token::<Value>(&token, None),
            _ => HS512Key::from_bytes(&secret).verify_token::<Value>(&token, None),
        };
        checked.unwrap_or_else(|e| panic!("{alg} forgery does not verify: {e}"));
    }
    // The DER and PEM spellings of public keys are the real thing.
    let x = ed.public_key().to_bytes();
    let parsed = Ed25519PublicKey::from_der(&ed25519_spki(&x)).expect("Ed25519 DER");
    assert_eq!(parsed.to_bytes(), x);
    assert!(Ed25519PublicKey::from_pem(&pem(&ed25519_spki(&x))).is_ok());
    let point = es.public_key().public_key().to_bytes_uncompressed();
    let parsed = ES256PublicKey::from_der(&p256_spki(&point)).expect("P-256 DER");
    assert_eq!(parsed.public_key().to_bytes_uncompressed(), point);
    assert!(ES256PublicKey::from_pem(&pem(&p256_spki(&point))).is_ok());
    assert_eq!(non_canonical("AA"), Some("AB".to_owned()));
    assert_eq!(B64.decode("AA").ok(), Some(vec![0]));
    assert!(B64.decode("AB").is_err(), "a strict decoder refuses it");
}

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    for token in [&v.mobile, &v.web] {
        let jwt = Jwt::parse(token);
        let kid = jwt.kid();
        for alg in ["none", "None", "NONE", "nOnE"] {
            for header in [
                json!({"alg": alg, "kid": kid}),
                json!({"alg": alg}),
                json!({"alg": alg, "kid": kid, "typ": "JWT"}),
            ] {
                let h = enc(&header);
                let other = jwt.with_claims(|c| c["sub"] = json!(NIL));
                let forged = [
                    ("with an empty signature", format!("{h}.{}.", jwt.p)),
                    ("without a signature", format!("{h}.{}", jwt.p)),
                    ("with the genuine signature", jwt.with_header(&header)),
                    (
                        "claiming another user",
                        format!("{h}.{}.", Jwt::parse(&other).p),
                    ),
                ];
                for (how, token) in forged {
                    attack(&server, token, &format!("{header} {how}")).await;
                }
            }
        }
        // The other ways to say "no algorithm".
        for alg in [
            json!(""),
            json!(null),
            json!(["none"]),
            json!(0),
            json!("none "),
        ] {
            let header = json!({"alg": alg, "kid": kid});
            attack(
                &server,
                format!("{}.{}.", enc(&header), jwt.p),
                &format!("{header}"),
            )
            .await;
        }
        let header = json!({"kid": kid});
        attack(
            &server,
            format!("{}.{}.", enc(&header), jwt.p),
            "no alg at all",
        )
        .await;
        // jwt_tool's nested attack: an unsigned wrapper around the genuine
        // token.
        let header = json!({"alg": "none", "cty": "JWT"});
        attack(
            &server,
            format!("{}.{}.", enc(&header), b64(&jwt.raw)),
            "alg none wrapping the genuine token",
        )
        .await;
    }
    genuine(&server, &v.mobile, &v.user_id).await;
    genuine_cookie(&server, &v.web, &v.user_id).await;
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    for alg in ["EdDSA", "ES256"] {
        let server = jwt_server(alg);
        let v = victim(&server, "alice").await;
        let jwt = Jwt::parse(&v.mobile);
        assert_eq!(jwt.alg(), alg);
        let kid = jwt.kid();
        let (keys, keys_text) = jwks(&server).await;
        let jwk = keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("the signing key is published")
            .clone();
        for (spelling, secret) in public_key_spellings(&jwk, &keys_text) {
            for hs in ["HS256", "HS384", "HS512"] {
                for header in [
                    json!({"alg": hs, "kid": kid, "typ": "JWT"}),
                    json!({"alg": hs, "kid": kid}),
                    json!({"alg": hs}),
                ] {
                    let what = format!("{header} keyed with the {alg} public key ({spelling})");
                    attack(&server, hmac_signed(&header, &jwt.p, &secret), &what).await;
                }
            }
        }
        genuine(&server, &v.mobile, &v.user_id).await;
    }
    // An HS256 deployment publishes nothing; its secret is not one of the
    // guesses attackers start with.
    let server = jwt_server("HS256");
    let v = victim(&server, "alice").await;
    let jwt = Jwt::parse(&v.mobile);
    assert_eq!(jwt.alg(), "HS256");
    let kid = jwt.kid();
    let (keys, keys_text) = jwks(&server).await;
    assert_eq!(keys, json!({"keys": []}));
    let guesses: [&[u8]; 8] = [
        b"",
        b"\0",
        b"secret",
        b"latchkey",
        b"your-256-bit-secret",
        b"password",
        kid.as_bytes(),
        keys_text.as_bytes(),
    ];
    for secret in guesses {
        for hs in ["HS256", "HS384", "HS512"] {
            let header = json!({"alg": hs, "kid": kid, "typ": "JWT"});
            let what = format!("{header} keyed with {:?}", text(secret));
            attack(&server, hmac_signed(&header, &jwt.p, secret), &what).await;
        }
    }
    genuine(&server, &v.mobile, &v.user_id).await;
}

#[tokio::test]
async fn hostile_kids_are_refused() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    let jwt = Jwt::parse(&v.mobile);
    let kid = jwt.kid();
    let alg = jwt.alg();
    let long = "A".repeat(3000);
    let kids: Vec<Value> = vec![
        // Path traversal, to a file whose content the attacker knows.
        json!("../../../../dev/null"),
        json!("/dev/null"),
        json!("../../../../../../../../dev/null\u{0}"),
        json!("..\\..\\..\\..\\dev\\null"),
        json!("../../../../proc/sys/kernel/randomize_va_space"),
        json!("file:///dev/null"),
        json!(format!("../{kid}")),
        json!(format!("{kid}/../{kid}")),
        // SQL, in case a kid is ever looked up in the store.
        json!("x' UNION SELECT 'key' --"),
        json!("x' UNION SELECT 'key', 'HS256', 'key', 'key', 0, NULL --"),
        json!("' OR '1'='1"),
        json!(format!("{kid}' OR '1'='1")),
        json!("1; DROP TABLE signing_keys; --"),
        // Commands and lookups, in case a kid is ever a file name or logged.
        json!("key.pem; sleep 5"),
        json!("|id"),
        json!("$(id)"),
        json!("${jndi:ldap://127.0.0.1:1/a}"),
        json!("kid\r\nX-Injected: 1"),
        // Near misses of the real kid.
        json!(format!("{kid} ")),
        json!(format!(" {kid}")),
        json!(kid.to_uppercase()),
        json!(&kid[..kid.len() - 1]),
        json!(format!("{kid}\u{0}")),
        json!(""),
        json!("unknown-kid"),
        json!(long),
        // The wrong JSON type.
        json!(0),
        json!(1),
        json!(-1),
        json!(true),
        json!(null),
        json!({}),
        json!({"kid": kid}),
        json!([kid]),
    ];
    for hostile in &kids {
        let header = json!({"alg": alg, "kid": hostile});
        attack(
            &server,
            jwt.with_header(&header),
            &format!("{header} with the genuine signature"),
        )
        .await;
        for secret in [&b""[..], b"key", b"2\n", b"\0"] {
            let header = json!({"alg": "HS256", "kid": hostile, "typ": "JWT"});
            let what = format!("{header} keyed with {:?}", text(secret));
            attack(&server, hmac_signed(&header, &jwt.p, secret), &what).await;
        }
    }
    // A kid twice: the second, hostile one must not be the one looked up.
    let h = b64(format!(
        r#"{{"alg":"HS256","kid":"{kid}","kid":"/dev/null"}}"#
    ));
    attack(
        &server,
        signed(&h, &jwt.p, |i| hmac("HS256", b"", i)),
        "a duplicate kid",
    )
    .await;
    // The store is as it was: keys, logins and the genuine token.
    let (keys, _) = jwks(&server).await;
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "{keys}"
    );
    genuine(&server, &v.mobile, &v.user_id).await;
    let again = mobile_login(&server, "alice").await;
    genuine(&server, &again, &v.user_id).await;
}

/// A stand-in for an attacker's web server: answers every request with
/// `body`, and counts the connections it gets.
async fn attacker_server(body: String) -> (String, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn key_material_offered_by_the_token_is_never_trusted() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    let jwt = Jwt::parse(&v.mobile);
    let kid = jwt.kid();
    let ed = Ed25519KeyPair::generate();
    let ed_jwk = |kid: &str| {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().to_bytes()),
               "kid": kid, "alg": "EdDSA", "use": "sig"})
    };
    let es = ES256KeyPair::generate();
    let point = es.public_key().public_key().to_bytes_uncompressed();
    let es_jwk = |kid: &str| {
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
               "kid": kid, "alg": "ES256", "use": "sig"})
    };
    // The attacker's JWKS names their key both by their own kid and by
    // the server's.
    let attacker_jwks =
        json!({"keys": [ed_jwk("attacker"), ed_jwk(&kid), es_jwk("attacker-es"), es_jwk(&kid)]});
    let (base, hits) = attacker_server(attacker_jwks.to_string()).await;
    let by_ed = |header: &Value| signed(&enc(header), &jwt.p, |i| ed25519(&ed, i));
    let by_es = |header: &Value| signed(&enc(header), &jwt.p, |i| es256(&es, i));
    let sub = jwt.with_claims(|c| c["sub"] = json!(NIL));
    let other_user = Jwt::parse(&sub).p;
    for k in ["attacker", kid.as_str()] {
        // jku: "fetch my key set".
        let header = json!({"alg": "EdDSA", "kid": k, "jku": format!("{base}/jwks.json")});
        attack(&server, by_ed(&header), &format!("{header}")).await;
        // ... behind a URL whose userinfo names the server itself.
        let host = server.base.trim_start_matches("http://");
        let sneaky = base.replacen("http://", &format!("http://{host}@"), 1);
        let header = json!({"alg": "EdDSA", "kid": k, "jku": format!("{sneaky}/jwks.json")});
        attack(&server, by_ed(&header), &format!("{header}")).await;
        // x5u: "fetch my certificate".
        let header = json!({"alg": "EdDSA", "kid": k, "x5u": format!("{base}/cert.pem")});
        attack(&server, by_ed(&header), &format!("{header}")).await;
        // jwk: "here is my key".
        let header = json!({"alg": "EdDSA", "kid": k, "jwk": ed_jwk(k)});
        attack(&server, by_ed(&header), &format!("{header}")).await;
        let header = json!({"alg": "ES256", "kid": k, "jwk": es_jwk(k)});
        attack(&server, by_es(&header), &format!("{header}")).await;
        // x5c: "here is my certificate chain" (the key's DER as the leaf).
        let chain = [STANDARD.encode(ed25519_spki(&ed.public_key().to_bytes()))];
        let header = json!({"alg": "EdDSA", "kid": k, "x5c": chain});
        attack(&server, by_ed(&header), &format!("{header}")).await;
        // The same, claiming another user.
        let header = json!({"alg": "EdDSA", "kid": k, "jwk": ed_jwk(k)});
        let h = enc(&header);
        attack(
            &server,
            signed(&h, &other_user, |i| ed25519(&ed, i)),
            "embedded jwk claiming another user",
        )
        .await;
    }
    // Without a kid, the embedded key is the only key the token names.
    let header = json!({"alg": "EdDSA", "jwk": ed_jwk("attacker")});
    attack(&server, by_ed(&header), "embedded jwk and no kid").await;
    let header = json!({"alg": "ES256", "jwk": es_jwk("attacker")});
    attack(&server, by_es(&header), "embedded ES256 jwk and no kid").await;
    let header = json!({"alg": "EdDSA", "jku": format!("{base}/jwks.json")});
    attack(&server, by_ed(&header), "jku and no kid").await;
    // Signed by the attacker's key alone, with the server's kid.
    let header = json!({"alg": "EdDSA", "kid": kid});
    attack(
        &server,
        by_ed(&header),
        "the server's kid, the attacker's signature",
    )
    .await;
    // Give a fetch that should never happen the time to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the server fetched a URL a token named"
    );
    genuine(&server, &v.mobile, &v.user_id).await;
}

#[tokio::test]
async fn stripped_truncated_and_mangled_tokens_are_refused() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    let bob = victim(&server, "bob").await;
    let g = Jwt::parse(&v.mobile);
    let other_session = Jwt::parse(&mobile_login(&server, "alice").await);
    let bobs = Jwt::parse(&bob.mobile);
    let (h, p, s) = (g.h.as_str(), g.p.as_str(), g.s.as_str());
    let mangled: Vec<(&str, String)> = vec![
        // Stripped signature.
        ("no signature, trailing dot", format!("{h}.{p}.")),
        ("no signature segment", format!("{h}.{p}")),
        ("header only", format!("{h}.")),
        ("payload only", format!(".{p}.")),
        // Truncated or extended signature.
        (
            "signature less one character",
            g.with_signature(&s[..s.len() - 1]),
        ),
        (
            "signature less four characters",
            g.with_signature(&s[..s.len() - 4]),
        ),
        ("half a signature", g.with_signature(&s[..s.len() / 2])),
        ("one character of signature", g.with_signature(&s[..1])),
        ("signature plus A", g.with_signature(&format!("{s}A"))),
        ("signature plus AAAA", g.with_signature(&format!("{s}AAAA"))),
        ("signature twice", g.with_signature(&format!("{s}{s}"))),
        // Someone else's signature.
        ("bob's signature", g.with_signature(&bobs.s)),
        (
            "another session's signature",
            g.with_signature(&other_session.s),
        ),
        (
            "bob's payload, alice's signature",
            format!("{h}.{}.{s}", bobs.p),
        ),
        (
            "bob's header and payload, alice's signature",
            format!("{}.{}.{s}", bobs.h, bobs.p),
        ),
        // Extra or missing segments.
        ("trailing dot", format!("{}.", g.raw)),
        ("two trailing dots", format!("{}..", g.raw)),
        ("leading dot", format!(".{}", g.raw)),
        ("four segments", format!("{}.{s}", g.raw)),
        ("five segments (JWE-shaped)", format!("{h}.{p}.{s}.{p}.{s}")),
        ("token twice", format!("{}.{}", g.raw, g.raw)),
        ("token twice, no dot", format!("{}{}", g.raw, g.raw)),
        ("empty header", format!(".{p}.{s}")),
        ("empty payload", format!("{h}..{s}")),
        ("doubled dot", format!("{h}..{p}.{s}")),
        ("segments swapped", format!("{p}.{h}.{s}")),
        // Bad base64 and padding.
        ("padded signature", g.with_signature(&format!("{s}="))),
        (
            "doubly padded signature",
            g.with_signature(&format!("{s}==")),
        ),
        ("padded payload", format!("{h}.{p}=.{s}")),
        ("padded header", format!("{h}==.{p}.{s}")),
        ("base64 with !", g.with_signature(&format!("!{}", &s[1..]))),
        ("base64 with *", format!("{h}.*{}.{s}", &p[1..])),
        (
            "percent-encoded signature",
            g.with_signature(&format!("%{:02X}{}", s.as_bytes()[0], &s[1..])),
        ),
        (
            "non-ASCII in the signature",
            g.with_signature(&format!("{s}é")),
        ),
        ("space inside", format!("{h}.{p}. {s}")),
        ("tab inside", format!("{h}.{p}\t.{s}")),
        ("signature upper-cased", g.with_signature(&s.to_uppercase())),
        (
            "signature reversed",
            g.with_signature(&s.chars().rev().collect::<String>()),
        ),
        // Not JSON, or not an object.
        ("header not JSON", format!("{}.{p}.{s}", b64("not json"))),
        ("header an array", format!("{}.{p}.{s}", b64("[]"))),
        ("header null", format!("{}.{p}.{s}", b64("null"))),
        ("header a string", format!("{}.{p}.{s}", b64("\"EdDSA\""))),
        ("payload not JSON", format!("{h}.{}.{s}", b64("not json"))),
        ("payload an array", format!("{h}.{}.{s}", b64("[]"))),
        (
            "header with a BOM",
            format!(
                "{}.{p}.{s}",
                b64([&b"\xef\xbb\xbf"[..], &B64.decode(h).unwrap()].concat())
            ),
        ),
        (
            "header re-spaced",
            format!(
                "{}.{p}.{s}",
                b64(serde_json::to_string_pretty(&g.header).unwrap())
            ),
        ),
        (
            "payload re-spaced",
            format!(
                "{h}.{}.{s}",
                b64(serde_json::to_string_pretty(&g.claims).unwrap())
            ),
        ),
        (
            "payload with a duplicate sub",
            format!(
                "{h}.{}.{s}",
                b64(format!(
                    "{},\"sub\":\"{}\"}}",
                    &g.claims.to_string()[..g.claims.to_string().len() - 1],
                    bob.user_id
                ))
            ),
        ),
        // Junk.
        ("empty", String::new()),
        (".", ".".into()),
        ("..", "..".into()),
        ("...", "...".into()),
        ("e30.e30.e30", "e30.e30.e30".into()),
        ("e30.e30.", "e30.e30.".into()),
        ("null.null.null", "null.null.null".into()),
        ("the word Bearer", "Bearer".into()),
        ("4096 bytes", "A".repeat(4096)),
        ("4097 bytes", "A".repeat(4097)),
        ("over-long signature", g.with_signature(&"A".repeat(5000))),
        ("over-long header", format!("{}.{p}.{s}", "A".repeat(5000))),
    ];
    let mut variants: Vec<(String, String)> = Vec::new();
    // The standard base64 alphabet and non-canonical trailing bits decode
    // to the same bytes in lenient decoders.
    for (name, segment) in [("header", h), ("payload", p), ("signature", s)] {
        let standard = segment.replace('-', "+").replace('_', "/");
        if standard != segment {
            variants.push((
                format!("{name} in the standard alphabet"),
                g.raw.replacen(segment, &standard, 1),
            ));
        }
        if let Some(odd) = non_canonical(segment) {
            variants.push((
                format!("{name} with non-canonical trailing bits"),
                g.raw.replacen(segment, &odd, 1),
            ));
        }
    }
    for i in [0, s.len() / 2, s.len() - 2] {
        let mut bytes = s.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        variants.push((
            format!("signature character {i} changed"),
            g.with_signature(&text(&bytes)),
        ));
    }
    let variants = variants
        .iter()
        .map(|(what, token)| (what.as_str(), token.clone()));
    for (what, token) in mangled.into_iter().chain(variants) {
        assert_ne!(token, g.raw, "{what} is the genuine token");
        attack(&server, token, what).await;
    }
    // Bytes that are not UTF-8.
    attack(
        &server,
        [v.mobile.as_bytes(), b"\xff\xfe"].concat(),
        "non-UTF-8 suffix",
    )
    .await;
    attack(
        &server,
        [&b"\xc3\x28"[..], v.mobile.as_bytes()].concat(),
        "non-UTF-8 prefix",
    )
    .await;
    genuine(&server, &v.mobile, &v.user_id).await;
    genuine(&server, &bob.mobile, &bob.user_id).await;
}

/// The order n of the P-256 group.
const P256_ORDER: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// CVE-2022-21449's signatures: r = s = 0 (raw and DER), and their kin.
fn psychic_signatures() -> Vec<(&'static str, String)> {
    let n = unhex(P256_ORDER);
    vec![
        ("r = s = 0", b64([0u8; 64])),
        (
            "DER r = s = 0",
            b64([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]),
        ),
        (
            "DER r = s = 0, long zeros",
            b64([
                &[0x30, 0x44, 0x02, 0x20][..],
                &[0; 32],
                &[0x02, 0x20],
                &[0; 32],
            ]
            .concat()),
        ),
        ("r = s = n", b64([&n[..], &n].concat())),
        ("r = 0, s = n", b64([&[0u8; 32][..], &n].concat())),
        ("r = n, s = 0", b64([&n[..], &[0u8; 32]].concat())),
        (
            "r = s = 1",
            b64([&[0u8; 31][..], &[1], &[0; 31], &[1]].concat()),
        ),
        ("one zero byte", b64([0u8])),
        ("32 zero bytes", b64([0u8; 32])),
        (
            "Ed25519 identity R, S = 0",
            b64([&[1u8][..], &[0; 31], &[0; 32]].concat()),
        ),
    ]
}

#[tokio::test]
async fn psychic_signatures_are_refused() {
    // An ES256 deployment: the zero signature under its own key.
    let server = jwt_server("ES256");
    let v = victim(&server, "alice").await;
    let bob = victim(&server, "bob").await;
    let jwt = Jwt::parse(&v.mobile);
    assert_eq!(jwt.alg(), "ES256");
    let kid = jwt.kid();
    let as_bob = Jwt::parse(&jwt.with_claims(|c| {
        c["sub"] = json!(bob.user_id);
        c["name"] = json!("bob");
    }));
    let no_kid = enc(&json!({"alg": "ES256"}));
    let typed = enc(&json!({"alg": "ES256", "kid": kid, "typ": "JWT"}));
    for (name, sig) in psychic_signatures() {
        let forged = [
            ("ES256 token", jwt.with_signature(&sig)),
            ("ES256 token as bob", as_bob.with_signature(&sig)),
            ("no kid", format!("{no_kid}.{}.{sig}", jwt.p)),
            ("no kid, as bob", format!("{no_kid}.{}.{sig}", as_bob.p)),
            ("typ JWT, as bob", format!("{typed}.{}.{sig}", as_bob.p)),
        ];
        for (what, token) in forged {
            attack(&server, token, &format!("{what}, {name}")).await;
        }
    }
    genuine(&server, &v.mobile, &v.user_id).await;
    genuine(&server, &bob.mobile, &bob.user_id).await;

    // An EdDSA deployment: the header switched to ES256 (or kept) with the
    // same signatures.
    let server = jwt_server("EdDSA");
    let v = victim(&server, "alice").await;
    let jwt = Jwt::parse(&v.mobile);
    assert_eq!(jwt.alg(), "EdDSA");
    let kid = jwt.kid();
    let headers = [
        json!({"alg": "ES256", "kid": kid}),
        json!({"alg": "ES256", "kid": kid, "typ": "JWT"}),
        json!({"alg": "ES256"}),
        json!({"alg": "EdDSA", "kid": kid}),
    ];
    for (name, sig) in psychic_signatures() {
        for header in &headers {
            let token = format!("{}.{}.{sig}", enc(header), jwt.p);
            attack(&server, token, &format!("{header}, {name}")).await;
        }
        let token = jwt.with_signature(&sig);
        attack(&server, token, &format!("EdDSA token, {name}")).await;
    }
    genuine(&server, &v.mobile, &v.user_id).await;
}

/// A change to a claim set.
type Edit<'a> = Box<dyn Fn(&mut Value) + 'a>;

#[tokio::test]
async fn tampered_claims_under_the_original_signature_are_refused() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    let bob = victim(&server, "bob").await;
    let year = 365 * 24 * 3600;
    for token in [&v.mobile, &v.web] {
        let jwt = Jwt::parse(token);
        let c = &jwt.claims;
        let (exp, iat) = (c["exp"].as_i64().unwrap(), c["iat"].as_i64().unwrap());
        let generation = c["generation"].as_i64().unwrap();
        let edits: Vec<(&str, Edit<'_>)> = vec![
            ("sub of bob", Box::new(|c| c["sub"] = json!(bob.user_id))),
            ("sid of bob", Box::new(|c| c["sid"] = json!(bob.session_id))),
            (
                "sub and sid of bob",
                Box::new(|c| {
                    c["sub"] = json!(bob.user_id);
                    c["sid"] = json!(bob.session_id);
                }),
            ),
            (
                "sub, sid and name of bob",
                Box::new(|c| {
                    c["sub"] = json!(bob.user_id);
                    c["sid"] = json!(bob.session_id);
                    c["name"] = json!("bob");
                }),
            ),
            ("sid nil", Box::new(|c| c["sid"] = json!(NIL))),
            ("sub nil", Box::new(|c| c["sub"] = json!(NIL))),
            ("name admin", Box::new(|c| c["name"] = json!("admin"))),
            (
                "exp a year later",
                Box::new(move |c| c["exp"] = json!(exp + year)),
            ),
            (
                "exp a second later",
                Box::new(move |c| c["exp"] = json!(exp + 1)),
            ),
            ("exp i64::MAX", Box::new(|c| c["exp"] = json!(i64::MAX))),
            (
                "exp removed",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            (
                "iat and nbf later",
                Box::new(move |c| {
                    c["iat"] = json!(iat + 60);
                    c["nbf"] = json!(iat + 60);
                }),
            ),
            ("iat earlier", Box::new(move |c| c["iat"] = json!(iat - 60))),
            (
                "generation + 1",
                Box::new(move |c| c["generation"] = json!(generation + 1)),
            ),
            (
                "generation - 1",
                Box::new(move |c| c["generation"] = json!(generation - 1)),
            ),
            (
                "generation huge",
                Box::new(|c| c["generation"] = json!(i64::MAX)),
            ),
            ("iss changed", Box::new(|c| c["iss"] = json!("evil"))),
            ("aud changed", Box::new(|c| c["aud"] = json!("evil"))),
            (
                "aud an array",
                Box::new(|c| c["aud"] = json!(["latchkey", "evil"])),
            ),
            (
                "iss and aud removed",
                Box::new(|c| {
                    let c = c.as_object_mut().unwrap();
                    c.remove("iss");
                    c.remove("aud");
                }),
            ),
            ("jti changed", Box::new(|c| c["jti"] = json!("replayed"))),
            (
                "csrf removed",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("csrf");
                }),
            ),
            (
                "csrf changed",
                Box::new(|c| c["csrf"] = json!("attacker-chosen")),
            ),
            (
                "csrf of bob's session",
                Box::new(|c| c["csrf"] = json!(bob.csrf)),
            ),
            (
                "ua removed",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("ua");
                }),
            ),
            (
                "ua changed",
                Box::new(|c| c["ua"] = json!("Firefox/120;Linux")),
            ),
            (
                "net changed",
                Box::new(|c| c["net"] = json!("203.0.113.0/24")),
            ),
            ("admin added", Box::new(|c| c["admin"] = json!(true))),
            ("role added", Box::new(|c| c["role"] = json!("admin"))),
            ("claims emptied", Box::new(|c| *c = json!({}))),
        ];
        for (what, edit) in &edits {
            let tampered = jwt.with_claims(|c| edit(c));
            if tampered == jwt.raw {
                continue; // Nothing to change (a mobile token has no csrf).
            }
            let kind = if jwt.claims.get("csrf").is_some() {
                "web"
            } else {
                "mobile"
            };
            attack(&server, &tampered, &format!("{kind} token, {what}")).await;
        }
    }
    genuine(&server, &v.mobile, &v.user_id).await;
    genuine_cookie(&server, &v.web, &v.user_id).await;
    genuine(&server, &bob.mobile, &bob.user_id).await;
}

/// A deployment of this run's JWT strategy signing with `alg`, a victim
/// on it, the victim's app token, and the key (with its kid) taken out of
/// the store.
async fn real_key_deployment(alg: &str) -> (Readable, Victim, Jwt, String, ServerKey) {
    let readable = readable_server(&jwt_strategy(), &[("LATCHKEY_JWT_ALGORITHM", alg)]);
    let v = victim(&readable.server, "alice").await;
    let jwt = Jwt::parse(&v.mobile);
    let (kid, key) = server_key(&readable.url).await;
    assert_eq!(jwt.kid(), kid, "the key read is the one that signs");
    (readable, v, jwt, kid, key)
}

#[tokio::test]
async fn claims_signed_with_the_real_key_are_still_checked() {
    for alg in ["EdDSA", "HS256"] {
        let (readable, v, jwt, kid, key) = real_key_deployment(alg).await;
        let server = &readable.server;
        let sign =
            |header: &Value, claims: &Value| signed(&enc(header), &enc(claims), |i| key.sign(i));
        let header = jwt.header.clone();
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut c = jwt.claims.clone();
            c["jti"] = json!("forged-by-the-test");
            edit(&mut c);
            c
        };
        // The signer is right: the genuine claims, re-signed, pass.
        let resigned = sign(&header, &with(&|_| {}));
        genuine(server, &resigned, &v.user_id).await;

        let now = unix_now();
        let iat = jwt.claims["iat"].as_i64().unwrap();
        let exp = jwt.claims["exp"].as_i64().unwrap();
        let mut claims: Vec<(&str, Value)> = vec![
            ("nbf a minute ahead", with(&|c| c["nbf"] = json!(now + 60))),
            (
                "iat and nbf a minute ahead",
                with(&|c| {
                    c["iat"] = json!(now + 60);
                    c["nbf"] = json!(now + 60);
                    c["exp"] = json!(exp + 60);
                }),
            ),
            ("nbf a day ahead", with(&|c| c["nbf"] = json!(now + 86_400))),
            (
                "iss of another deployment",
                with(&|c| c["iss"] = json!("evil")),
            ),
            (
                "aud of another deployment",
                with(&|c| c["aud"] = json!("evil")),
            ),
            ("aud an array", with(&|c| c["aud"] = json!(["latchkey"]))),
            (
                "iss missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
            (
                "exp missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            (
                "nbf missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("nbf");
                }),
            ),
            ("exp a string", with(&|c| c["exp"] = json!("never"))),
            ("exp a float", with(&|c| c["exp"] = json!(1e12))),
            ("exp beyond i64", with(&|c| c["exp"] = json!(1e30))),
            (
                "longer-lived than this configuration issues",
                with(&|c| c["exp"] = json!(iat + 400 * 86_400)),
            ),
            ("exp i64::MAX", with(&|c| c["exp"] = json!(i64::MAX))),
            ("an unknown claim", with(&|c| c["admin"] = json!(true))),
            ("sub not a user id", with(&|c| c["sub"] = json!("admin"))),
            ("sid not a session id", with(&|c| c["sid"] = json!("admin"))),
            ("sub a number", with(&|c| c["sub"] = json!(1))),
            ("claims not an object", json!([jwt.claims.clone()])),
        ];
        if jwt_strategy() != "auto-refresh" {
            // auto-refresh renews an expired, correctly signed token by
            // contract; its expiry is in `expired_tokens_are_refused`.
            claims.push(("exp a minute ago", with(&|c| c["exp"] = json!(now - 60))));
        }
        for (what, c) in &claims {
            attack(server, sign(&header, c), &format!("{alg} key, {what}")).await;
        }
        // Under the real key, headers that say something else.
        let c = with(&|_| {});
        let other_alg = if alg == "HS256" { "EdDSA" } else { "HS256" };
        for bad in [
            json!({"alg": other_alg, "kid": kid}),
            json!({"alg": "ES256", "kid": kid}),
            json!({"alg": "none", "kid": kid}),
            json!({"alg": alg.to_lowercase(), "kid": kid}),
            json!({"alg": alg}),
            json!({"alg": alg, "kid": kid, "jku": "http://127.0.0.1:1/jwks.json"}),
            json!({"alg": alg, "kid": kid, "x5u": "http://127.0.0.1:1/cert.pem"}),
            json!({"alg": alg, "kid": kid, "crit": ["x-unknown"], "x-unknown": true}),
            json!({"alg": alg, "kid": kid, "crit": ["exp"]}),
            json!({"alg": alg, "kid": kid, "b64": false, "crit": ["b64"]}),
            json!({"alg": alg, "kid": kid, "crit": []}),
        ] {
            attack(
                server,
                sign(&bad, &c),
                &format!("{alg} key under header {bad}"),
            )
            .await;
        }
        // A duplicate claim: parsers that keep the first and those that keep
        // the last would see different users.
        let text = c.to_string();
        let dup = format!(r#"{},"sub":"{NIL}"}}"#, &text[..text.len() - 1]);
        attack(
            server,
            signed(&enc(&header), &b64(&dup), |i| key.sign(i)),
            &format!("{alg} key, duplicate sub"),
        )
        .await;
        if alg == "HS256" {
            let secret = match &key {
                ServerKey::Hs(secret) => secret.clone(),
                _ => unreachable!(),
            };
            // The right secret under another HMAC algorithm, and truncated
            // tags.
            for hs in ["HS384", "HS512"] {
                let h = json!({"alg": hs, "kid": kid, "typ": "JWT"});
                attack(
                    server,
                    hmac_signed(&h, &enc(&c), &secret),
                    &format!("real secret, {h}"),
                )
                .await;
            }
            let input = format!("{}.{}", enc(&header), enc(&c));
            let tag = hmac("HS256", &secret, input.as_bytes());
            for len in [0, 1, 16, 31] {
                attack(
                    server,
                    format!("{input}.{}", b64(&tag[..len])),
                    &format!("HMAC tag cut to {len} bytes"),
                )
                .await;
            }
            attack(
                server,
                format!("{input}.{}", b64([&tag[..], &[0]].concat())),
                "HMAC tag plus a byte",
            )
            .await;
        }
        genuine(server, &v.mobile, &v.user_id).await;
    }
}

/// Correctly signed tokens with times no token of ours has, so only a
/// holder of the signing key can make them: defence in depth. The lifetime
/// check ("a token whose `exp - iat` is longer than this configuration
/// issues is refused") must hold, and nothing may be a 5xx.
///
/// 1. An `iat` in the future is refused like an `nbf` in the future: a far
///    `iat` would otherwise defeat the lifetime check (`iat = exp =
///    i64::MAX` with `nbf` in the past never expires).
/// 2. `exp - iat` must not overflow: `iat = -1, exp = i64::MAX` or `iat =
///    i64::MIN` once panicked into a 500 in debug builds and wrapped past
///    the lifetime check in release ones.
#[tokio::test]
async fn future_iat_and_extreme_times_are_refused() {
    for alg in ["EdDSA", "HS256"] {
        let (readable, v, jwt, _, key) = real_key_deployment(alg).await;
        let server = &readable.server;
        let now = unix_now();
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut c = jwt.claims.clone();
            c["jti"] = json!("forged-by-the-test");
            edit(&mut c);
            signed(&enc(&jwt.header), &enc(&c), |i| key.sign(i))
        };
        let cases = [
            // FINDING 1: answered 200.
            ("iat a minute ahead", with(&|c| c["iat"] = json!(now + 60))),
            (
                "iat = exp = i64::MAX, nbf long past: never expires",
                with(&|c| {
                    c["iat"] = json!(i64::MAX);
                    c["nbf"] = json!(i64::MIN);
                    c["exp"] = json!(i64::MAX);
                }),
            ),
            // FINDING 2: answered 500 (exp - iat overflows).
            (
                "iat = -1, exp = i64::MAX",
                with(&|c| {
                    c["iat"] = json!(-1);
                    c["exp"] = json!(i64::MAX);
                }),
            ),
            ("iat = i64::MIN", with(&|c| c["iat"] = json!(i64::MIN))),
        ];
        for (what, token) in &cases {
            attack(server, token, &format!("{alg} key, {what}")).await;
        }
        genuine(server, &v.mobile, &v.user_id).await;
    }
}

/// Logs `name` in from an app and from a browser, checking each credential
/// at once (they are short-lived): the bearer token and the cookie value.
async fn short_lived_logins(server: &Server, name: &str) -> (String, String, String) {
    // `victim` has checked the app token right after its login; the
    // browser's is checked right after its own, before either can expire.
    let v = victim(server, name).await;
    genuine_cookie(server, &v.web, &v.user_id).await;
    (v.user_id, v.mobile, v.web)
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    // Tokens live 3 s (4 s at most, JWT times being whole seconds) and
    // sessions 6 s, with no clock leeway: 6.2 s after the last login every
    // credential has ended, correctly signed as it is. (Shorter lives made
    // the checks of the genuine credentials flaky on a loaded machine,
    // where one Argon2 login can take seconds.)
    let env = [
        ("LATCHKEY_CLOCK_LEEWAY", "1ms"),
        ("LATCHKEY_REFRESH_GRACE", "1s"),
    ];
    let ended = Server::start_with_env(&["--access-ttl", "3s", "--session-ttl", "6s"], &env);
    // access-refresh: also an expired access token of a session that lives on.
    let live = (strategy() == "access-refresh")
        .then(|| Server::start_with_env(&["--access-ttl", "3s"], &env));
    let (user_id, mobile, web) = short_lived_logins(&ended, "alice").await;
    let live_logins = match &live {
        Some(server) => Some(short_lived_logins(server, "alice").await),
        None => None,
    };
    tokio::time::sleep(Duration::from_millis(6200)).await;

    attack(&ended, &mobile, "an expired app token").await;
    attack(&ended, &web, "an expired browser token").await;
    if strategy() != "session" {
        for token in [&mobile, &web] {
            let jwt = Jwt::parse(token);
            let exp = jwt.claims["exp"].as_i64().unwrap();
            let revived = jwt.with_claims(|c| c["exp"] = json!(exp + 3600));
            attack(&ended, &revived, "an expired token with exp pushed back").await;
        }
    }
    if let (Some(server), Some((live_user, live_mobile, live_web))) = (&live, &live_logins) {
        attack(
            server,
            live_mobile,
            "an expired access token of a live session",
        )
        .await;
        attack(
            server,
            live_web,
            "an expired access cookie of a live session",
        )
        .await;
        let fresh = mobile_login(server, "alice").await;
        genuine(server, &fresh, live_user).await;
    }
    let fresh = mobile_login(&ended, "alice").await;
    genuine(&ended, &fresh, &user_id).await;
}

#[tokio::test]
async fn tokens_of_other_deployments_are_refused() {
    let target = Server::start(&[]);
    let v = victim(&target, "alice").await;
    // Another deployment of the same strategy (its own key), and of every
    // other strategy; the same username on each.
    let mut others: Vec<(String, Server)> = vec![(strategy(), Server::start(&[]))];
    if strategy() != "session" {
        let server = Server::start_with_env(&[], &[("LATCHKEY_JWT_ALGORITHM", "HS256")]);
        others.push((format!("{} (HS256)", strategy()), server));
    }
    for s in ["session", "stateful-jwt", "access-refresh", "auto-refresh"] {
        if s != strategy() {
            others.push((s.to_owned(), Server::start(&["--strategy", s])));
        }
    }
    for (name, other) in &others {
        let o = victim(other, "alice").await;
        attack(
            &target,
            &o.mobile,
            &format!("an app token of another {name} deployment"),
        )
        .await;
        attack(
            &target,
            &o.web,
            &format!("a browser token of another {name} deployment"),
        )
        .await;
        if strategy() != "session" && o.mobile.split('.').count() == 3 {
            // The foreign token renamed to the target's key.
            let kid = Jwt::parse(&v.mobile).kid();
            let foreign = Jwt::parse(&o.mobile);
            let mut header = foreign.header.clone();
            header["kid"] = json!(kid);
            attack(
                &target,
                foreign.with_header(&header),
                &format!("a {name} token with the target's kid"),
            )
            .await;
        }
        genuine(other, &o.mobile, &o.user_id).await;
    }
    genuine(&target, &v.mobile, &v.user_id).await;
    genuine_cookie(&target, &v.web, &v.user_id).await;
}

async fn post_with_cookie(server: &Server, path: &str, cookie: &str, csrf: Option<&str>) -> Reply {
    let mut req = http()
        .post(server.url(path))
        .header(COOKIE, format!("latchkey_session={cookie}"));
    if let Some(csrf) = csrf {
        req = req.header("x-csrf-token", csrf);
    }
    Reply::from(req.send().await.expect("request")).await
}

#[tokio::test]
async fn a_browser_token_without_its_csrf_claim_is_refused() {
    let server = Server::start(&["--strategy", &jwt_strategy()]);
    let v = victim(&server, "alice").await;
    let bob = victim(&server, "bob").await;
    let web = Jwt::parse(&v.web);
    assert_eq!(
        web.claims["csrf"],
        v.csrf.as_str(),
        "browser tokens carry the CSRF token"
    );
    let stripped = web.with_claims(|c| {
        c.as_object_mut().unwrap().remove("csrf");
    });
    let variants = [
        ("csrf claim removed", stripped.clone()),
        (
            "csrf claim empty",
            web.with_claims(|c| c["csrf"] = json!("")),
        ),
        (
            "csrf claim null",
            web.with_claims(|c| c["csrf"] = json!(null)),
        ),
        (
            "csrf claim of bob's session",
            web.with_claims(|c| c["csrf"] = json!(bob.csrf)),
        ),
        (
            "csrf claim a number",
            web.with_claims(|c| c["csrf"] = json!(0)),
        ),
    ];
    for (what, token) in &variants {
        attack(&server, token, &format!("browser token, {what}")).await;
        // An unsafe request with it: not served, with or without a CSRF
        // header, and the session is not ended.
        for csrf in [None, Some(""), Some(v.csrf.as_str())] {
            let r = post_with_cookie(&server, "/auth/logout", token, csrf).await;
            assert!(
                r.status == 401 && r.body["error"] == "unauthenticated",
                "logout with {what}, X-CSRF-Token {csrf:?}: {} {}",
                r.status,
                r.raw
            );
            r.error(401, "unauthenticated");
        }
    }
    // A token that never had a CSRF claim (an app's), put in the cookie:
    // an unsafe request with it still needs the CSRF token it cannot have.
    for csrf in [None, Some(""), Some(v.csrf.as_str())] {
        let r = post_with_cookie(&server, "/auth/logout", &v.mobile, csrf).await;
        assert!(
            r.status == 403 && r.body["error"] == "csrf_failed",
            "logout with an app token as the cookie, X-CSRF-Token {csrf:?}: {} {}",
            r.status,
            r.raw
        );
        r.error(403, "csrf_failed");
    }
    genuine(&server, &v.mobile, &v.user_id).await;
    genuine_cookie(&server, &v.web, &v.user_id).await;
    let r = post_with_cookie(&server, "/auth/logout", &v.web, Some(&v.csrf)).await;
    assert_eq!(r.status, 204, "the genuine browser logs out: {}", r.raw);
}

#[tokio::test]
async fn lookalikes_of_the_credential_are_refused() {
    // In this run's own strategy: in `session`, opaque tokens.
    let readable = readable_server(&strategy(), &[]);
    let server = &readable.server;
    let v = victim(server, "alice").await;
    let g = v.mobile.clone();
    let pad = |to: usize| format!("{g}{}", "A".repeat(to - g.len()));
    let mut lookalikes: Vec<(String, String)> = vec![
        ("the session id".into(), v.session_id.clone()),
        (
            "the session id upper-cased".into(),
            v.session_id.to_uppercase(),
        ),
        ("the user id".into(), v.user_id.clone()),
        ("the CSRF token".into(), v.csrf.clone()),
        (
            "less its last character".into(),
            g[..g.len() - 1].to_owned(),
        ),
        ("plus a character".into(), format!("{g}A")),
        (
            "first character changed".into(),
            format!("{}{}", if g.starts_with('A') { 'B' } else { 'A' }, &g[1..]),
        ),
        (
            "swapped case".into(),
            g.chars()
                .map(|c| {
                    if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect(),
        ),
        ("padded with =".into(), format!("{g}=")),
        ("quoted".into(), format!("\"{g}\"")),
        ("space inside".into(), format!("{} {}", &g[..10], &g[10..])),
        ("tab inside".into(), format!("{}\t{}", &g[..10], &g[10..])),
        ("a word before it".into(), format!("x {g}")),
        ("twice".into(), format!("{g}{g}")),
        ("twice with a comma".into(), format!("{g},{g}")),
        (
            "percent-encoded".into(),
            format!("%{:02X}{}", g.as_bytes()[0], &g[1..]),
        ),
        ("with a non-ASCII character".into(), format!("{g}é")),
        ("4096 bytes long".into(), pad(4096)),
        ("4097 bytes long".into(), pad(4097)),
        ("20000 bytes long".into(), pad(20_000)),
        // JWT-shaped values.
        (
            "alg none with the victim's ids".into(),
            format!(
                "{}.{}.",
                enc(&json!({"alg": "none", "typ": "JWT"})),
                enc(
                    &json!({"sub": v.user_id, "sid": v.session_id, "name": "alice", "iss": "latchkey", "aud": "latchkey", "iat": unix_now(), "nbf": unix_now(), "exp": unix_now() + 3600})
                )
            ),
        ),
        (
            "a JWT-shaped junk value".into(),
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.".into(),
        ),
        (
            "the credential as a JWT payload".into(),
            format!("{}.{}.", enc(&json!({"alg": "none"})), b64(&g)),
        ),
    ];
    let standard = g.replace('-', "+").replace('_', "/");
    if standard != g {
        lookalikes.push(("standard base64 alphabet".into(), standard));
    }
    if let Some(odd) = non_canonical(&g) {
        lookalikes.push(("non-canonical trailing bits".into(), odd));
    }
    // A stolen copy of the store: what it keeps of the credentials.
    let hashes = query_rows!(&readable.url, "SELECT token_hash FROM sessions", |row| row
        .get::<Vec<
        u8,
    >, _>(
        0
    ));
    assert!(!hashes.is_empty());
    for hash in &hashes {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        lookalikes.push(("a stored hash, base64url".into(), b64(hash)));
        lookalikes.push(("a stored hash, base64".into(), STANDARD.encode(hash)));
        lookalikes.push(("a stored hash, hex".into(), hex));
    }
    // A genuine credential of another strategy's deployment.
    let other_strategy = if strategy() == "session" {
        "stateful-jwt"
    } else {
        "session"
    };
    let other = Server::start(&["--strategy", other_strategy]);
    let o = victim(&other, "alice").await;
    lookalikes.push((
        format!("an app token of a {other_strategy} deployment"),
        o.mobile.clone(),
    ));
    lookalikes.push((
        format!("a browser token of a {other_strategy} deployment"),
        o.web.clone(),
    ));

    for (what, token) in &lookalikes {
        assert_ne!(token, &g, "{what} is the genuine token");
        attack(server, token, what).await;
    }
    // Bytes that are not UTF-8, or control bytes no client library sends.
    attack(
        server,
        [g.as_bytes(), b"\xff"].concat(),
        "with a byte that is not UTF-8",
    )
    .await;
    let (head, tail) = g.as_bytes().split_at(10);
    for control in [&b"\x00"[..], b"\x01", b"\x0b", b"\x1b[31m", b"\x7f", b"\r"] {
        let what = format!("with {:?} inside", text(control));
        attack_raw(server, &[head, control, tail].concat(), &what).await;
        let what = format!("with {:?} after it", text(control));
        attack_raw(server, &[g.as_bytes(), control].concat(), &what).await;
    }
    genuine(server, &g, &v.user_id).await;
    genuine_cookie(server, &v.web, &v.user_id).await;
}
