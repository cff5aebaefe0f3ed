//! Fuzz properties for the HTTP edge, driven through the whole in-process
//! router (`latchkey_http::app` and `tower::ServiceExt::oneshot`, a real
//! SQLite store in a temporary folder, every strategy):
//!
//! - `http_credentials`: the `Cookie` scan and `Authorization: Bearer`
//!   parsing (transport.rs);
//! - `http_forwarded`: the client address and scheme from `X-Forwarded-*`
//!   and RFC 7239 `Forwarded` (client.rs);
//! - `http_user_agent`: any `User-Agent` through login and back;
//! - `http_csrf`: `Origin`, `Sec-Fetch-Site`, `X-CSRF-Token` and the
//!   forward-auth method headers (csrf.rs, routes/verify.rs);
//! - `http_json_body`: the JSON bodies of register, login, refresh and
//!   password change;
//! - `http_query`: the query strings and path ids of the authenticated
//!   reads (`/auth/events?limit=&cursor=`, `/auth/sessions/{id}`);
//! - `http_request`: any method, path, headers and body.
//!
//! Every response keeps the contract: never a 5xx, and every 4xx is
//! `{"error": <string>, "message": <string>}` as `application/json`.
//! Run like the core targets; see `fuzz/README.md`.

mod common;
#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::LazyLock,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use ipnet::IpNet;
use latchkey_core::{
    ratelimit::{LimitClass, Quota, RateLimits},
    session::USER_AGENT_MAX_BYTES,
    strategy::{Strategy as AuthStrategy, StrategyConfig},
    user::{Password, Username},
};
use latchkey_http::{AppState, ForwardedHeader, HttpConfig};
use proptest::{prelude::*, sample::Index, test_runner::TestCaseResult};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

// ---------------------------------------------------------------------------
// The fixture: one service per strategy, each with a browser session and an
// app session of one user, signed in from CLIENT with AGENT.

const USERNAME: &str = "fuzzer";
/// Signs in for the properties that make sessions of their own, so the
/// fixture's user keeps two sessions and short listings.
const VISITOR: &str = "visitor";
const PASSWORD: &str = "correct horse battery staple";
const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const TRUSTED: [&str; 3] = ["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"];
const PLAIN_COOKIE: &str = "latchkey_session";
const SECURE_COOKIE: &str = "__Host-latchkey_session";

struct Server {
    strategy: AuthStrategy,
    /// Trusts `TRUSTED` for `X-Forwarded-*`.
    xff: Router,
    /// Trusts `TRUSTED` for RFC 7239 `Forwarded`.
    forwarded: Router,
    /// The browser session's cookie value and CSRF token.
    web: String,
    csrf: String,
    /// The app session's bearer token.
    bearer: String,
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    servers: Vec<Server>,
    _dirs: Vec<TempDir>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for strategy in AuthStrategy::ALL {
        let dir = tempfile::tempdir().expect("temp dir");
        servers.push(rt.block_on(server(strategy, &dir)));
        dirs.push(dir);
    }
    Fixture {
        rt,
        servers,
        _dirs: dirs,
    }
});

fn trusted() -> Vec<IpNet> {
    TRUSTED.iter().map(|n| n.parse().unwrap()).collect()
}

fn is_trusted(ip: IpAddr) -> bool {
    trusted().iter().any(|n| n.contains(&ip.to_canonical()))
}

async fn server(strategy: AuthStrategy, dir: &TempDir) -> Server {
    let config = StrategyConfig {
        strategy,
        // Long enough for the longest documented run.
        access_ttl: time::Duration::days(1),
        ..StrategyConfig::default()
    };
    let auth = common::service(dir, config).await;
    // Every limit on, so its code runs with every kind of client key, but
    // out of reach: the properties judge answers that must not be 429.
    let unreachable = Some(Quota {
        count: 100_000_000,
        per: std::time::Duration::from_secs(1),
    });
    auth.set_rate_limits(
        RateLimits {
            quotas: [
                LimitClass::LoginIp,
                LimitClass::LoginUserIp,
                LimitClass::LoginUser,
                LimitClass::RegisterIp,
                LimitClass::RefreshIp,
            ]
            .into_iter()
            .map(|class| (class, unreachable))
            .collect(),
        },
        None,
    );
    auth.register(USERNAME, PASSWORD).await.expect("register");
    auth.register(VISITOR, PASSWORD).await.expect("register");
    let app = |family| {
        let mut http = HttpConfig::default();
        http.trusted_proxies = trusted();
        http.forwarded_header = family;
        latchkey_http::app(AppState::new(auth.clone(), http, None))
    };
    let xff = app(ForwardedHeader::XForwardedFor);
    let forwarded = app(ForwardedHeader::Forwarded);

    let web = send(
        &xff,
        login(USERNAME, PASSWORD, "web", direct(), Some(AGENT)),
    )
    .await;
    assert_eq!(web.status, StatusCode::OK, "{}", web.text());
    let cookie = session_cookie(&web).expect("session cookie").1;
    let csrf = web.json()["csrf_token"].as_str().expect("csrf").to_owned();
    let app_login = send(
        &xff,
        login(USERNAME, PASSWORD, "mobile", direct(), Some(AGENT)),
    )
    .await;
    assert_eq!(app_login.status, StatusCode::OK, "{}", app_login.text());
    let bearer = app_login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    Server {
        strategy,
        xff,
        forwarded,
        web: cookie,
        csrf,
        bearer,
    }
}

fn servers() -> &'static [Server] {
    &FIXTURE.servers
}

fn block_on<F: Future>(f: F) -> F::Output {
    FIXTURE.rt.block_on(f)
}

// ---------------------------------------------------------------------------
// Requests and the contract every response keeps

/// A request as the socket would deliver it.
struct Call {
    method: Method,
    path: String,
    peer: SocketAddr,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

fn direct() -> SocketAddr {
    SocketAddr::new(CLIENT, 40000)
}

impl Call {
    fn new(method: Method, path: &str, peer: SocketAddr) -> Self {
        Self {
            method,
            path: path.to_owned(),
            peer,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::from_bytes(name.as_ref().as_bytes()).expect("header name");
        let value = HeaderValue::from_bytes(value.as_ref()).expect("header value");
        self.headers.push((name, value));
        self
    }

    fn headers(mut self, headers: &[(HeaderName, HeaderValue)]) -> Self {
        self.headers.extend(headers.iter().cloned());
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

fn login(user: &str, password: &str, client: &str, peer: SocketAddr, agent: Option<&str>) -> Call {
    let body = json!({"username": user, "password": password, "client": client});
    let call = Call::new(Method::POST, "/auth/login", peer)
        .header("content-type", "application/json")
        .body(body.to_string());
    match agent {
        Some(agent) => call.header("user-agent", agent),
        None => call,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(HeaderValue::as_bytes)
    }
}

async fn send(app: &Router, call: Call) -> Reply {
    let mut request = Request::builder()
        .method(call.method)
        .uri(&call.path)
        .body(Body::from(call.body))
        .expect("request");
    for (name, value) in call.headers {
        request.headers_mut().append(name, value);
    }
    request.extensions_mut().insert(ConnectInfo(call.peer));
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The contract of every response: no 5xx, and a 4xx is the JSON envelope
/// (a 401 also carries a `WWW-Authenticate` challenge).
fn keeps_contract(reply: &Reply, head: bool) -> TestCaseResult {
    prop_assert!(
        !reply.status.is_server_error(),
        "server error {}: {}",
        reply.status,
        reply.text()
    );
    if !reply.status.is_client_error() {
        return Ok(());
    }
    let content_type = reply.header("content-type").unwrap_or_default();
    prop_assert!(
        content_type.starts_with(b"application/json"),
        "{} with content-type {:?}",
        reply.status,
        String::from_utf8_lossy(content_type)
    );
    if reply.status == StatusCode::UNAUTHORIZED {
        prop_assert!(
            reply.header("www-authenticate").is_some(),
            "401 without a challenge"
        );
    }
    if head {
        return Ok(());
    }
    let body = reply.json();
    let envelope = body.as_object();
    prop_assert!(
        envelope.is_some_and(|e| e.len() == 2
            && e.get("error")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
            && e.get("message").is_some_and(Value::is_string)),
        "{} body is not the error envelope: {}",
        reply.status,
        reply.text()
    );
    Ok(())
}

fn error_code(reply: &Reply) -> String {
    reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `(name, value)` of the session cookie a response sets.
fn session_cookie(reply: &Reply) -> Option<(String, String)> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(name, _)| *name == PLAIN_COOKIE || *name == SECURE_COOKIE)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
}

// ---------------------------------------------------------------------------
// Shared generators

/// Bytes a header value may hold: tab, visible ASCII and obs-text.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(0x20u8..0x7f, 0..max),
        1 => prop::collection::vec(any::<u8>(), 0..max).prop_map(|mut bytes| {
            for b in &mut bytes {
                if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
                    *b = b'\t';
                }
            }
            bytes
        }),
    ]
}

/// Only the bytes of `bytes` that a header value may hold.
fn header_safe(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
        .collect()
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "[ -~]{0,60}",
        1 => (any::<char>(), 0..3000usize).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

/// A header as a corpus file or a generator gives it: placeholders not yet
/// expanded, bytes not yet checked.
type RawHeader = (HeaderName, Vec<u8>);

/// `@name value` in a corpus file.
type Directive = (Vec<u8>, Vec<u8>);

/// The lines of a corpus file: `name: value` headers (one space after the
/// colon is dropped; lines without a valid name are skipped) and
/// `@directive value` lines.
fn lines(data: &[u8]) -> (Vec<Directive>, Vec<RawHeader>) {
    let mut directives = Vec::new();
    let mut headers = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"@") {
            let at = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
            let value = rest.get(at + 1..).unwrap_or_default();
            directives.push((rest[..at].to_vec(), value.to_vec()));
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let Ok(name) = HeaderName::from_bytes(line[..colon].trim_ascii()) {
            headers.push((name, value.to_vec()));
        }
    }
    (directives, headers)
}

fn directive<'d>(directives: &'d [Directive], name: &str) -> Option<&'d [u8]> {
    directives
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

fn replace_bytes(haystack: &[u8], needle: &str, with: &str) -> Vec<u8> {
    let needle = needle.as_bytes();
    // The common case, without a byte-by-byte loop (tests are unoptimised).
    if !haystack.contains(&needle[0]) {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with.as_bytes());
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// `~AT~BYTE` right after a placeholder: the genuine value with byte `AT`
/// (modulo its length) set to `BYTE`. Returns (at, byte, bytes used).
fn near_suffix(rest: &[u8]) -> Option<(usize, u8, usize)> {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let first = rest.strip_prefix(b"~")?;
    let a = digits(first).min(9);
    let second = first[a..].strip_prefix(b"~")?;
    let b = digits(second).min(3);
    if a == 0 || b == 0 {
        return None;
    }
    let at: usize = std::str::from_utf8(&first[..a]).ok()?.parse().ok()?;
    let byte: u32 = std::str::from_utf8(&second[..b]).ok()?.parse().ok()?;
    Some((at, (byte % 256) as u8, 2 + a + b))
}

/// A header value for `server`: `$WEB`, `$BEARER` and `$CSRF` become its
/// genuine credentials (each optionally followed by `~AT~BYTE`), and bytes
/// no header value may hold are dropped.
fn render(server: &Server, raw: &[u8]) -> HeaderValue {
    // The common case, without a byte-by-byte loop (tests are unoptimised).
    if !raw.contains(&b'$')
        && let Ok(value) = HeaderValue::from_bytes(raw)
    {
        return value;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    'scan: while i < raw.len() {
        for (name, value) in [
            ("$WEB", &server.web),
            ("$BEARER", &server.bearer),
            ("$CSRF", &server.csrf),
        ] {
            if raw[i..].starts_with(name.as_bytes()) {
                i += name.len();
                let mut value = value.as_bytes().to_vec();
                if let Some((at, byte, used)) = near_suffix(&raw[i..]) {
                    let len = value.len();
                    value[at % len] = byte;
                    i += used;
                }
                out.extend_from_slice(&value);
                continue 'scan;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    HeaderValue::from_bytes(&header_safe(&out)).expect("header-safe bytes")
}

fn render_all(server: &Server, raw: &[RawHeader]) -> Vec<(HeaderName, HeaderValue)> {
    raw.iter()
        .map(|(n, v)| (n.clone(), render(server, v)))
        .collect()
}

fn only(raw: &[RawHeader], names: &[&str]) -> Vec<RawHeader> {
    raw.iter()
        .filter(|(n, _)| names.contains(&n.as_str()))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------
// http_credentials: GET /auth/me with any Cookie and Authorization headers

const MAX_CREDENTIAL_LEN: usize = 4096;

/// Which credential the documented rules pick: a bearer `Authorization`
/// wins; any other scheme is ignored; otherwise the first cookie of that
/// name across all `Cookie` headers (a header that is not text is skipped).
/// Empty, oversized or non-text credentials never authenticate.
#[derive(Debug, PartialEq)]
enum Picked {
    Bearer(String),
    Cookie(Option<String>),
}

fn picked(headers: &[(HeaderName, HeaderValue)], cookie: &str) -> Picked {
    if let Some((_, auth)) = headers.iter().find(|(n, _)| n == header::AUTHORIZATION) {
        let bytes = auth.as_bytes();
        let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
            Some(at) => (&bytes[..at], &bytes[at + 1..]),
            None => (bytes, &b""[..]),
        };
        if scheme.eq_ignore_ascii_case(b"bearer") {
            let token = std::str::from_utf8(rest).map_or("", str::trim);
            let token = if token.len() > MAX_CREDENTIAL_LEN {
                ""
            } else {
                token
            };
            return Picked::Bearer(token.to_owned());
        }
    }
    let value = headers
        .iter()
        .filter(|(n, _)| n == header::COOKIE)
        .filter_map(|(_, v)| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == cookie).then(|| value.trim().to_owned())
        })
        .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN);
    Picked::Cookie(value)
}

/// The property on one server: the request is answered as the credential
/// [`picked`] says: 200 for a genuine one, else 401 `unauthenticated` with
/// the challenge of its transport.
fn credentials_case(
    server: &Server,
    secure: bool,
    headers: &[(HeaderName, HeaderValue)],
) -> TestCaseResult {
    let call = if secure {
        Call::new(Method::GET, "/auth/me", SocketAddr::new(PROXY, 5000))
            .header("x-forwarded-for", CLIENT.to_string())
            .header("x-forwarded-proto", "https")
    } else {
        Call::new(Method::GET, "/auth/me", direct())
    };
    let call = call.header("user-agent", AGENT).headers(headers);
    let reply = block_on(send(&server.xff, call));
    keeps_contract(&reply, false)?;
    let cookie = if secure { SECURE_COOKIE } else { PLAIN_COOKIE };
    let choice = picked(headers, cookie);
    let genuine = |v: &str| v == server.web || v == server.bearer;
    let (accept, bearer) = match &choice {
        Picked::Bearer(t) => (genuine(t), true),
        Picked::Cookie(v) => (v.as_deref().is_some_and(genuine), false),
    };
    let strategy = server.strategy;
    if accept {
        prop_assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {:?} {}",
            strategy,
            choice,
            reply.text()
        );
        let body = reply.json();
        prop_assert_eq!(body["username"].as_str(), Some(USERNAME));
    } else {
        prop_assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{}: {:?}",
            strategy,
            choice
        );
        prop_assert_eq!(error_code(&reply), "unauthenticated");
        let challenge: &[u8] = if bearer {
            br#"Bearer error="invalid_token""#
        } else {
            b"Bearer"
        };
        prop_assert_eq!(
            reply.header("www-authenticate"),
            Some(challenge),
            "{:?}",
            choice
        );
    }
    Ok(())
}

/// Target `http_credentials`: header lines, `@secure` for an HTTPS request
/// through a trusted proxy (only the `__Host-` cookie counts then).
pub(crate) fn credentials_target(data: &[u8]) -> TestCaseResult {
    let (directives, raw) = lines(data);
    let secure = directive(&directives, "secure").is_some();
    for server in servers() {
        credentials_case(server, secure, &render_all(server, &raw))?;
    }
    Ok(())
}

/// A credential, or something near one, as header text with placeholders.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let genuine = prop::sample::select(vec!["$WEB", "$BEARER"]);
    prop_oneof![
        6 => genuine.clone().prop_map(|g| g.as_bytes().to_vec()),
        4 => (genuine.clone(), any::<u16>(), any::<u8>())
            .prop_map(|(g, at, b)| format!("{g}~{at}~{b}").into_bytes()),
        1 => genuine.clone().prop_map(|g| format!("\"{g}\"").into_bytes()),
        1 => (genuine, prop::sample::select(vec![" ", "\t", "  ", "=", "%20", ","]))
            .prop_map(|(g, p)| format!("{p}{g}{p}").into_bytes()),
        1 => Just(vec![b'a'; MAX_CREDENTIAL_LEN + 1]),
        2 => header_bytes(60),
    ]
}

/// One `Cookie` header: pairs and junk joined by `;` and friends.
fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        PLAIN_COOKIE,
        PLAIN_COOKIE,
        SECURE_COOKIE,
        SECURE_COOKIE,
        " latchkey_session",
        "latchkey_session\t",
        "latchkey_session2",
        "LATCHKEY_SESSION",
        "latchkey_refresh",
        "__Secure-latchkey_session",
        "",
        "theme",
    ]);
    let eq = prop::sample::select(vec!["=", "=", " = ", "==", "=\t"]);
    let pair = (name, eq, token()).prop_map(|(n, e, t)| [n.as_bytes(), e.as_bytes(), &t].concat());
    let junk = prop_oneof![
        "[ -:<-~]{0,20}".prop_map(String::into_bytes),
        header_bytes(20),
    ];
    let piece = prop_oneof![4 => pair, 1 => junk];
    let separator = prop::sample::select(vec![";", "; ", " ;", ";;", ";\t", " ; ", ""]);
    prop::collection::vec((piece, separator), 0..6).prop_map(|pieces| {
        pieces
            .into_iter()
            .flat_map(|(piece, sep)| [piece, sep.as_bytes().to_vec()].concat())
            .collect()
    })
}

fn authorization_header() -> impl Strategy<Value = Vec<u8>> {
    let scheme = prop::sample::select(vec![
        "Bearer", "Bearer", "Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "Bearerx",
        "", "Bearer:", "DPoP",
    ]);
    let sep = prop::sample::select(vec![" ", " ", "  ", "\t", "", " \t"]);
    let trail = prop::sample::select(vec!["", "", " ", "\t", " x", ","]);
    prop_oneof![
        4 => (scheme, sep, token(), trail)
            .prop_map(|(s, p, t, e)| [s.as_bytes(), p.as_bytes(), &t, e.as_bytes()].concat()),
        1 => header_bytes(80),
    ]
}

#[test]
fn credentials_are_read_as_documented() {
    let headers = (
        prop::option::of(authorization_header()),
        prop::collection::vec(cookie_header(), 0..3),
    )
        .prop_map(|(auth, cookies)| {
            auth.into_iter()
                .map(|a| (header::AUTHORIZATION, a))
                .chain(cookies.into_iter().map(|c| (header::COOKIE, c)))
                .collect::<Vec<RawHeader>>()
        });
    let input = (any::<bool>(), headers);
    harness::check("http_credentials", 300, input, |(secure, raw)| {
        for server in servers() {
            credentials_case(server, secure, &render_all(server, &raw))?;
        }
        Ok(())
    });
}

#[test]
fn credentials_corpus() {
    harness::check_corpus("http_credentials", credentials_target);
}

// ---------------------------------------------------------------------------
// http_csrf: a browser request guarding an unsafe method through
// GET /auth/verify, with any Host, Origin, Sec-Fetch-Site, X-CSRF-Token

const CSRF_HEADERS: &[&str] = &[
    "host",
    "origin",
    "sec-fetch-site",
    "x-csrf-token",
    "x-original-method",
    "x-forwarded-method",
];

/// Whether the guarded method is unsafe: any of the method headers naming
/// an unsafe or unreadable method makes it so.
fn guards_unsafe(headers: &[(HeaderName, HeaderValue)]) -> bool {
    ["x-original-method", "x-forwarded-method"]
        .iter()
        .flat_map(|name| headers.iter().filter(move |(n, _)| n == name))
        .any(|(_, v)| {
            Method::from_bytes(v.as_bytes()).map_or(true, |m| {
                !matches!(m, Method::GET | Method::HEAD | Method::OPTIONS)
            })
        })
}

/// `host[:port]` of an origin, without its scheme's default port.
fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let default = if scheme.eq_ignore_ascii_case("https") {
        Some(":443")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(":80")
    } else {
        None
    };
    Some(match default {
        Some(port) => rest.strip_suffix(port).unwrap_or(rest).to_owned(),
        None => rest.to_owned(),
    })
}

/// The documented decision: a request marked cross-site, or whose Origin
/// is not the host it was sent to, or without the session's token in
/// `X-CSRF-Token`, is refused when the guarded method is unsafe.
fn csrf_accepts(server: &Server, headers: &[(HeaderName, HeaderValue)]) -> bool {
    if !guards_unsafe(headers) {
        return true;
    }
    let first = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if first("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site")) {
        return false;
    }
    if let Some(origin) = first("origin") {
        let host = first("host").and_then(|v| v.to_str().ok());
        let from = origin.to_str().ok().and_then(origin_authority);
        if !matches!((from, host), (Some(from), Some(host)) if from.eq_ignore_ascii_case(host)) {
            return false;
        }
    }
    first("x-csrf-token").and_then(|v| v.to_str().ok()) == Some(server.csrf.as_str())
}

fn csrf_case(server: &Server, headers: &[(HeaderName, HeaderValue)]) -> TestCaseResult {
    let call = Call::new(Method::GET, "/auth/verify", direct())
        .header("user-agent", AGENT)
        .header("cookie", format!("{PLAIN_COOKIE}={}", server.web))
        .headers(headers);
    let reply = block_on(send(&server.xff, call));
    keeps_contract(&reply, false)?;
    if csrf_accepts(server, headers) {
        prop_assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            server.strategy,
            reply.text()
        );
        prop_assert_eq!(reply.header("x-auth-username"), Some(USERNAME.as_bytes()));
    } else {
        prop_assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{}: {}",
            server.strategy,
            reply.text()
        );
        prop_assert_eq!(error_code(&reply), "csrf_failed");
    }
    Ok(())
}

/// Target `http_csrf`: header lines (only the six CSRF-related headers
/// count); `$CSRF` is the session's token.
pub(crate) fn csrf_target(data: &[u8]) -> TestCaseResult {
    let (_, raw) = lines(data);
    let raw = only(&raw, CSRF_HEADERS);
    for server in servers() {
        csrf_case(server, &render_all(server, &raw))?;
    }
    Ok(())
}

/// How a generated `Origin` is made.
#[derive(Debug, Clone)]
enum Origin {
    /// `scheme://` + the Host (or another site, or both) + port + tail.
    Built {
        scheme: &'static str,
        upper: bool,
        other: &'static str,
        port: &'static str,
        tail: &'static str,
        prefix: bool,
    },
    Null,
    Junk,
}

fn csrf_headers() -> impl Strategy<Value = Vec<RawHeader>> {
    let hosts = vec![
        "auth.example",
        "auth.example:8080",
        "AUTH.Example",
        "127.0.0.1:3000",
        "[::1]:3000",
        "auth.example:443",
        "auth.example:80",
        "",
    ];
    let host = prop_oneof![
        4 => prop::sample::select(hosts).prop_map(str::to_owned),
        1 => "[ -~]{0,30}",
    ];
    let scheme = prop::sample::select(vec!["http", "https", "HTTPS", "ftp", "", "http:"]);
    let port = prop::sample::select(vec!["", "", ":443", ":80", ":8080", ":3000", ":"]);
    let tail = prop::sample::select(vec!["", "", "", "/", "/x", "?", "#", "@evil.example", "."]);
    let other = prop::sample::select(vec!["", "", "evil.example", "auth.example.evil", "user@"]);
    let built = (scheme, any::<bool>(), other, port, tail, any::<bool>()).prop_map(
        |(scheme, upper, other, port, tail, prefix)| Origin::Built {
            scheme,
            upper,
            other,
            port,
            tail,
            prefix,
        },
    );
    let origin = prop_oneof![6 => built, 1 => Just(Origin::Null), 1 => Just(Origin::Junk)];
    let site = prop::sample::select(vec![
        "same-origin",
        "same-site",
        "none",
        "cross-site",
        "CROSS-SITE",
        "Cross-Site",
        " cross-site",
        "cross-site ",
    ]);
    let method = prop::sample::select(vec![
        "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "get", "post", "", "G ET",
        "CONNECT",
    ]);
    let token = prop_oneof![
        4 => Just(b"$CSRF".to_vec()),
        3 => (any::<u16>(), any::<u8>()).prop_map(|(at, b)| format!("$CSRF~{at}~{b}").into_bytes()),
        1 => Just(b"$CSRF ".to_vec()),
        1 => Just(b"$WEB".to_vec()),
        1 => header_bytes(50),
    ];
    (
        prop::option::of(host),
        prop::option::of(origin),
        prop::option::of(site),
        prop::option::of(token),
        prop::collection::vec((any::<bool>(), method), 0..3),
        header_bytes(40),
    )
        .prop_map(|(host, origin, site, token, methods, junk_origin)| {
            let mut raw: Vec<RawHeader> = Vec::new();
            if let Some(host) = &host {
                raw.push((header::HOST, host.clone().into_bytes()));
            }
            match origin {
                Some(Origin::Built {
                    scheme,
                    upper,
                    other,
                    port,
                    tail,
                    prefix,
                }) => {
                    let host = host.clone().unwrap_or_default();
                    let base = match (other, prefix) {
                        ("", _) => host,
                        (other, true) => format!("{other}{host}"),
                        (other, false) => other.to_owned(),
                    };
                    let base = if upper { base.to_uppercase() } else { base };
                    let origin = format!("{scheme}://{base}{port}{tail}");
                    raw.push((header::ORIGIN, origin.into_bytes()));
                }
                Some(Origin::Null) => raw.push((header::ORIGIN, b"null".to_vec())),
                Some(Origin::Junk) => raw.push((header::ORIGIN, junk_origin)),
                None => {}
            }
            if let Some(site) = site {
                raw.push((
                    HeaderName::from_static("sec-fetch-site"),
                    site.as_bytes().to_vec(),
                ));
            }
            if let Some(token) = token {
                raw.push((HeaderName::from_static("x-csrf-token"), token));
            }
            for (original, method) in methods {
                let name = if original {
                    "x-original-method"
                } else {
                    "x-forwarded-method"
                };
                raw.push((HeaderName::from_static(name), method.as_bytes().to_vec()));
            }
            raw
        })
}

#[test]
fn csrf_checks_follow_origin_and_token() {
    harness::check("http_csrf", 300, csrf_headers(), |raw| {
        for server in servers() {
            csrf_case(server, &render_all(server, &raw))?;
        }
        Ok(())
    });
}

#[test]
fn csrf_corpus() {
    harness::check_corpus("http_csrf", csrf_target);
}

// ---------------------------------------------------------------------------
// http_forwarded: who the client is, behind trusted proxies or not

const FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "host",
];

/// Every address a forwarding header spells in any form the parsers read
/// (`a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port`, `"…"`, `for=…`).
fn addresses_in(headers: &[(HeaderName, HeaderValue)]) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for (_, value) in headers.iter().filter(|(n, _)| n != header::HOST) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for token in text.split([',', ';', '=', '"', '[', ']', ' ', '\t']) {
            if let Ok(ip) = token.parse::<IpAddr>() {
                found.push(ip.to_canonical());
            }
            if let Some(Ok(ip)) = token.split(':').next().map(str::parse::<Ipv4Addr>) {
                found.push(IpAddr::V4(ip));
            }
        }
    }
    found
}

/// The property: logging in through `peer` with these headers records an
/// address that is the peer's (always, when the peer is not a trusted
/// proxy) or one the headers spell, never anything else, and a cookie whose
/// name says whether the request was HTTPS; with `expected`, exactly that
/// address and scheme.
fn forwarded_case(
    server: &Server,
    rfc7239: bool,
    peer: SocketAddr,
    headers: &[(HeaderName, HeaderValue)],
    expected: Option<(IpAddr, bool)>,
) -> TestCaseResult {
    let app = if rfc7239 {
        &server.forwarded
    } else {
        &server.xff
    };
    let reply = block_on(send(
        app,
        login(VISITOR, PASSWORD, "web", peer, Some(AGENT)).headers(headers),
    ));
    keeps_contract(&reply, false)?;
    prop_assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.text());
    let cookie = session_cookie(&reply);
    prop_assert!(cookie.is_some(), "no session cookie");
    let (name, value) = cookie.unwrap();
    let tls = name == SECURE_COOKIE;
    let session = block_on(send(
        app,
        Call::new(Method::GET, "/auth/session", peer)
            .header("user-agent", AGENT)
            .header("cookie", format!("{name}={value}"))
            .headers(headers),
    ));
    keeps_contract(&session, false)?;
    prop_assert_eq!(
        session.status,
        StatusCode::OK,
        "session: {}",
        session.text()
    );
    let recorded = session.json()["login_ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ip: IpAddr = recorded
        .parse()
        .map_err(|_| TestCaseError::fail(format!("login_ip {recorded:?}")))?;
    let peer_ip = peer.ip().to_canonical();
    if !is_trusted(peer_ip) {
        prop_assert_eq!(ip, peer_ip, "a stranger's forwarding headers were believed");
        prop_assert!(!tls, "a stranger's X-Forwarded-Proto was believed");
    }
    prop_assert!(
        ip == peer_ip || addresses_in(headers).contains(&ip),
        "recorded {} is neither the peer {} nor in the headers",
        ip,
        peer_ip
    );
    if let Some((want_ip, want_tls)) = expected {
        prop_assert_eq!(ip, want_ip, "client address");
        prop_assert_eq!(tls, want_tls, "scheme");
    }
    Ok(())
}

/// Target `http_forwarded`: header lines (only the forwarding headers and
/// `Host` count), `@peer ADDRESS` (default 10.0.0.1, a trusted proxy) and
/// `@rfc7239` to read `Forwarded` instead of `X-Forwarded-*`.
pub(crate) fn forwarded_target(data: &[u8]) -> TestCaseResult {
    let (directives, raw) = lines(data);
    let raw = only(&raw, FORWARDING);
    let peer = directive(&directives, "peer")
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.trim().parse::<IpAddr>().ok())
        .unwrap_or(PROXY);
    let rfc7239 = directive(&directives, "rfc7239").is_some();
    let server = &servers()[0];
    forwarded_case(
        server,
        rfc7239,
        SocketAddr::new(peer, 443),
        &render_all(server, &raw),
        None,
    )
}

/// A proxy chain: what the client wrote, then the client's address as the
/// first trusted proxy wrote it, then the proxies in between.
#[derive(Debug, Clone)]
struct Chain {
    server: Index,
    rfc7239: bool,
    /// Written by the client: lies, garbage, trusted-looking addresses.
    junk: Vec<Vec<u8>>,
    client: IpAddr,
    spelling: u8,
    proto: &'static str,
    host: Option<String>,
    /// Trusted; the last one is the socket peer.
    proxies: Vec<IpAddr>,
    /// Where the list is cut into separate header lines.
    cuts: Vec<Index>,
    space: bool,
}

fn v6_node(ip: Ipv6Addr, upper: bool) -> String {
    let text = ip.to_string();
    if upper { text.to_uppercase() } else { text }
}

impl Chain {
    /// The peer, the headers, and the client address and scheme the
    /// documented walk must find.
    fn render(&self) -> (SocketAddr, Vec<RawHeader>, (IpAddr, bool)) {
        let peer = SocketAddr::new(*self.proxies.last().unwrap(), 443);
        let hops = &self.proxies[..self.proxies.len() - 1];
        // `Forwarded` values may be quoted strings; `X-Forwarded-Proto`'s
        // are taken as they are.
        let proto = if self.rfc7239 {
            self.proto.trim().trim_matches('"')
        } else {
            self.proto.trim()
        };
        let tls = proto.eq_ignore_ascii_case("https");
        let (name, items): (HeaderName, Vec<Vec<u8>>) = if self.rfc7239 {
            let node = |ip: IpAddr, spelling: u8| match (ip, spelling % 4) {
                (IpAddr::V4(v4), 0) => v4.to_string(),
                (IpAddr::V4(v4), 1) => format!("\"{v4}:8080\""),
                (IpAddr::V4(v4), 2) => format!("{v4}:8080"),
                (IpAddr::V4(v4), _) => format!("\"[{}]\"", v4.to_ipv6_mapped()),
                (IpAddr::V6(v6), 0) => format!("\"[{v6}]\""),
                (IpAddr::V6(v6), 1) => format!("\"[{v6}]:443\""),
                (IpAddr::V6(v6), 2) => format!("[{v6}]"),
                (IpAddr::V6(v6), _) => format!("\"[{}]:1\"", v6_node(v6, true)),
            };
            let key = ["for", "For", "FOR", " for "][usize::from(self.spelling / 4 % 4)];
            let mut first = vec![
                format!("{key}={}", node(self.client, self.spelling)),
                format!("proto={}", self.proto),
            ];
            if let Some(host) = &self.host {
                first.push(format!("host={host}"));
            }
            if self.spelling & 16 != 0 {
                first.reverse();
            }
            let mut items = self.junk.clone();
            items.push(first.join(";").into_bytes());
            items.extend(
                hops.iter()
                    .map(|p| format!("for={};proto=http", node(*p, 0)).into_bytes()),
            );
            (header::FORWARDED, items)
        } else {
            let spell = match (self.client, self.spelling % 4) {
                (ip, 0) => ip.to_string(),
                (ip, 1) => format!(" {ip} "),
                (IpAddr::V4(v4), 2) => v4.to_ipv6_mapped().to_string(),
                (IpAddr::V6(v6), 2) => v6_node(v6, true),
                (ip, _) => format!("\t{ip}"),
            };
            let mut items = self.junk.clone();
            items.push(spell.into_bytes());
            items.extend(hops.iter().map(|p| p.to_string().into_bytes()));
            (HeaderName::from_static("x-forwarded-for"), items)
        };
        let mut cuts: Vec<usize> = self.cuts.iter().map(|c| c.index(items.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let separator: &[u8] = if self.space { b", " } else { b"," };
        let mut raw = Vec::new();
        let mut start = 0;
        for end in cuts.into_iter().chain([items.len()]) {
            if end > start {
                raw.push((name.clone(), items[start..end].join(separator)));
                start = end;
            }
        }
        if !self.rfc7239 {
            raw.push((
                HeaderName::from_static("x-forwarded-proto"),
                self.proto.as_bytes().to_vec(),
            ));
            if let Some(host) = &self.host {
                raw.push((
                    HeaderName::from_static("x-forwarded-host"),
                    host.clone().into_bytes(),
                ));
            }
        }
        (peer, raw, (self.client.to_canonical(), tls))
    }
}

fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(IpAddr::V4),
        any::<Ipv6Addr>().prop_map(IpAddr::V6),
        Just(CLIENT),
        Just(IpAddr::V6("2001:db8::1".parse().unwrap())),
    ]
    .prop_filter("untrusted", |ip| !is_trusted(*ip))
}

fn trusted_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::V4(Ipv4Addr::new(10, a, b, c))),
        any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from((n >> 8) | (0xfd << 120)))),
        Just(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        any::<[u8; 3]>()
            .prop_map(|[a, b, c]| IpAddr::V6(Ipv4Addr::new(10, a, b, c).to_ipv6_mapped())),
    ]
}

/// Items a client may write in front: lies, trusted-looking addresses,
/// obfuscated nodes, garbage (never a comma: that would make two items).
fn junk_item() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<IpAddr>().prop_map(|ip| ip.to_string().into_bytes()),
        trusted_ip().prop_map(|ip| ip.to_string().into_bytes()),
        trusted_ip().prop_map(|ip| format!("for={ip};proto=https").into_bytes()),
        prop::sample::select(vec![
            "unknown",
            "for=unknown",
            "for=_hidden",
            "for=\"[::1\"",
            "for=",
            "",
            "proto=https",
            "for=127.0.0.1",
            "\"",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        header_bytes(30).prop_map(|b| b.into_iter().filter(|c| *c != b',').collect()),
    ]
}

fn chain() -> impl Strategy<Value = Chain> {
    (
        any::<Index>(),
        any::<bool>(),
        prop::collection::vec(junk_item(), 0..4),
        untrusted_ip(),
        any::<u8>(),
        prop::sample::select(vec![
            "https",
            "http",
            "HTTPS",
            "\"https\"",
            " https",
            "wss",
            "",
        ]),
        prop::option::of("[a-z]{1,10}\\.example(:[0-9]{1,5})?"),
        prop::collection::vec(trusted_ip(), 1..4),
        prop::collection::vec(any::<Index>(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(server, rfc7239, junk, client, spelling, proto, host, proxies, cuts, space)| Chain {
                server,
                rfc7239,
                junk,
                client,
                spelling,
                proto,
                host,
                proxies,
                cuts,
                space,
            },
        )
}

#[test]
fn forwarded_client_is_the_first_untrusted_hop() {
    harness::check("http_forwarded_chain", 200, chain(), |chain| {
        let (peer, raw, expected) = chain.render();
        let server = &servers()[chain.server.index(servers().len())];
        forwarded_case(
            server,
            chain.rfc7239,
            peer,
            &render_all(server, &raw),
            Some(expected),
        )
    });
}

/// Any forwarding headers, from a trusted or an untrusted peer.
fn forwarding_headers() -> impl Strategy<Value = Vec<RawHeader>> {
    let name = prop::sample::select(vec![
        "x-forwarded-for",
        "x-forwarded-for",
        "forwarded",
        "forwarded",
        "x-forwarded-proto",
        "x-forwarded-host",
        "host",
    ]);
    let item = prop_oneof![
        junk_item(),
        untrusted_ip().prop_map(|ip| format!("for=\"[{ip}]:1\"").into_bytes()),
        Just(b"https".to_vec()),
    ];
    let value = (
        prop::collection::vec(item, 0..5),
        prop::sample::select(vec![",", ", ", ";", " ,"]),
    )
        .prop_map(|(items, sep)| items.join(sep.as_bytes()));
    prop::collection::vec(
        (name, value).prop_map(|(n, v)| (HeaderName::from_static(n), v)),
        0..5,
    )
}

#[test]
fn forwarded_headers_never_invent_a_client() {
    let peer = prop_oneof![trusted_ip(), untrusted_ip()];
    let input = (any::<bool>(), peer, forwarding_headers());
    harness::check("http_forwarded", 200, input, |(rfc7239, peer, raw)| {
        let server = &servers()[0];
        forwarded_case(
            server,
            rfc7239,
            SocketAddr::new(peer, 443),
            &render_all(server, &raw),
            None,
        )
    });
}

#[test]
fn forwarded_corpus() {
    harness::check_corpus("http_forwarded", forwarded_target);
}

// ---------------------------------------------------------------------------
// http_user_agent: any User-Agent through login and back

/// The property: a session made with any user agent (or none) is usable by
/// that same agent, in every strategy (the JWT ones carry its binding in a
/// claim), and keeps the agent as sent, cut to 512 bytes.
fn user_agent_case(server: &Server, agent: Option<&[u8]>) -> TestCaseResult {
    let with_agent = |call: Call| match agent {
        Some(agent) => call.header("user-agent", agent),
        None => call,
    };
    let reply = block_on(send(
        &server.xff,
        with_agent(login(VISITOR, PASSWORD, "mobile", direct(), None)),
    ));
    keeps_contract(&reply, false)?;
    prop_assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}: {}",
        server.strategy,
        reply.text()
    );
    let token = reply.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let session = block_on(send(
        &server.xff,
        with_agent(
            Call::new(Method::GET, "/auth/session", direct())
                .header("authorization", format!("Bearer {token}")),
        ),
    ));
    keeps_contract(&session, false)?;
    prop_assert_eq!(
        session.status,
        StatusCode::OK,
        "{}: its own agent was refused: {}",
        server.strategy,
        session.text()
    );
    let body = session.json();
    let expected = agent.map(|a| {
        let text = String::from_utf8_lossy(a).into_owned();
        let end = text.floor_char_boundary(USER_AGENT_MAX_BYTES);
        text[..end].to_owned()
    });
    prop_assert_eq!(body["login_user_agent"].as_str(), expected.as_deref());
    prop_assert_eq!(body["user_agent"].as_str(), expected.as_deref());
    prop_assert!(body["device"].as_str().is_some_and(|d| !d.is_empty()));
    Ok(())
}

/// Target `http_user_agent`: the file is the header value (bytes no header
/// may hold are dropped), tried in every strategy.
pub(crate) fn user_agent_target(data: &[u8]) -> TestCaseResult {
    let agent = header_safe(data);
    for server in servers() {
        user_agent_case(server, Some(&agent))?;
    }
    Ok(())
}

fn agent_bytes() -> impl Strategy<Value = Vec<u8>> {
    let real = prop::sample::select(vec![
        AGENT,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
         like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)",
        "curl/8.5.0",
        "Mozilla/5.0",
    ]);
    prop_oneof![
        2 => header_bytes(120),
        2 => (real.clone(), header_bytes(20), any::<Index>()).prop_map(|(ua, junk, at)| {
            let mut bytes = ua.as_bytes().to_vec();
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, junk);
            bytes
        }),
        1 => real.prop_map(|ua| ua.as_bytes().to_vec()),
        // Multi-byte text around the 512-byte cut.
        1 => (505usize..515, prop::sample::select(vec!["é", "€", "😀"]))
            .prop_map(|(n, c)| format!("{}{c}{c}{c}", "a".repeat(n)).into_bytes()),
        1 => (600usize..8000).prop_map(|n| vec![b'x'; n]),
        1 => prop::sample::select(vec!["", " ", "\t", "-", "Unknown", "a/", "/1"])
            .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

#[test]
fn any_user_agent_can_use_its_own_session() {
    let input = (any::<Index>(), prop::option::of(agent_bytes()));
    harness::check("http_user_agent", 200, input, |(server, agent)| {
        let server = &servers()[server.index(servers().len())];
        user_agent_case(server, agent.as_deref())
    });
}

#[test]
fn user_agent_corpus() {
    harness::check_corpus("http_user_agent", user_agent_target);
}

// ---------------------------------------------------------------------------
// http_json_body: the bodies of register, login, refresh, password change

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Register,
    Login,
    Refresh,
    Password,
}

const ENDPOINTS: [Endpoint; 4] = [
    Endpoint::Register,
    Endpoint::Login,
    Endpoint::Refresh,
    Endpoint::Password,
];

/// What the routes read from a registration or login body.
#[derive(Debug, serde::Deserialize)]
struct CredentialsBody {
    username: String,
    password: String,
    client: Option<String>,
}

/// The property: any body, any content type: the contract holds, and only
/// a body that says the right things succeeds (a valid new account, the
/// genuine password); refresh and password change, which the fuzzer never
/// gives a genuine secret, never succeed. `$PASSWORD` stands for the
/// genuine password in login bodies.
fn body_case(endpoint: Endpoint, content_type: Option<&[u8]>, body: &[u8]) -> TestCaseResult {
    let (server, path) = match endpoint {
        Endpoint::Register => (&servers()[0], "/auth/register"),
        Endpoint::Login => (&servers()[1], "/auth/login"),
        Endpoint::Refresh => (&servers()[2], "/auth/refresh"),
        Endpoint::Password => (&servers()[3], "/auth/password"),
    };
    let body = if endpoint == Endpoint::Login {
        replace_bytes(body, "$PASSWORD", PASSWORD)
    } else {
        body.to_vec()
    };
    // A password change with the genuine password would sign the shared
    // sessions out under the other properties.
    prop_assume!(
        !body
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
            || endpoint == Endpoint::Login
    );
    let mut call = Call::new(Method::POST, path, direct())
        .header("user-agent", AGENT)
        .body(body.clone());
    if let Some(content_type) = content_type {
        call = call.header("content-type", header_safe(content_type));
    }
    if endpoint == Endpoint::Password {
        call = call.header("authorization", format!("Bearer {}", server.bearer));
    }
    let reply = block_on(send(&server.xff, call));
    keeps_contract(&reply, false)?;
    let exact_json = content_type == Some(b"application/json".as_slice());
    let parsed = serde_json::from_slice::<CredentialsBody>(&body).ok();
    match endpoint {
        Endpoint::Register => {
            let valid = parsed.as_ref().is_some_and(|c| {
                Username::parse(&c.username).is_ok() && Password::parse_new(&c.password).is_ok()
            });
            if reply.status.is_success() {
                prop_assert!(
                    valid,
                    "registered from {:?}",
                    String::from_utf8_lossy(&body)
                );
            } else if exact_json && valid && body.len() <= HttpConfig::default().body_limit {
                prop_assert!(
                    reply.status == StatusCode::CONFLICT,
                    "a valid registration answered {}: {}",
                    reply.status,
                    reply.text()
                );
            }
        }
        Endpoint::Login => {
            let genuine = parsed.as_ref().is_some_and(|c| {
                c.password == PASSWORD
                    && Username::parse(&c.username)
                        .is_ok_and(|u| u.key() == USERNAME || u.key() == VISITOR)
            });
            let known_client = parsed
                .as_ref()
                .is_some_and(|c| matches!(c.client.as_deref(), None | Some("web" | "mobile")));
            if reply.status.is_success() {
                prop_assert!(
                    genuine && known_client,
                    "logged in with {:?}",
                    String::from_utf8_lossy(&body)
                );
            } else if exact_json && genuine && known_client {
                prop_assert!(
                    false,
                    "the genuine login answered {}: {}",
                    reply.status,
                    reply.text()
                );
            }
        }
        Endpoint::Refresh | Endpoint::Password => {
            prop_assert!(
                !reply.status.is_success(),
                "{:?} succeeded with {:?}",
                endpoint,
                String::from_utf8_lossy(&body)
            );
        }
    }
    Ok(())
}

/// Target `http_json_body`: the file is the body, sent to every endpoint as
/// `application/json` and as `text/plain`.
pub(crate) fn body_target(data: &[u8]) -> TestCaseResult {
    for endpoint in ENDPOINTS {
        for content_type in [&b"application/json"[..], b"text/plain; charset=utf-8"] {
            body_case(endpoint, Some(content_type), data)?;
        }
    }
    Ok(())
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile_text().prop_map(Value::String),
        prop::sample::select(vec![
            VISITOR,
            "$PASSWORD",
            "web",
            "mobile",
            "alice",
            "x y",
            ""
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "username",
    "password",
    "client",
    "refresh_token",
    "current_password",
    "new_password",
    "extra",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    let field_value = prop_oneof![
        3 => json_leaf(),
        1 => json_value(),
        2 => "[a-zA-Z0-9_.-]{1,20}".prop_map(Value::String),
        1 => "[ -~]{8,30}".prop_map(Value::String),
    ];
    let object = prop::collection::vec((prop::sample::select(FIELDS), field_value), 0..6).prop_map(
        |fields| {
            let members: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                .collect();
            format!("{{{}}}", members.join(",")).into_bytes()
        },
    );
    let genuine = (
        prop::sample::select(vec![VISITOR, "VISITOR", " visitor ", "visitor2"]),
        prop::sample::select(vec!["$PASSWORD", "$PASSWORD ", "wrong password"]),
        prop::option::of(prop::sample::select(vec![
            "web", "mobile", "Web", "desktop", "",
        ])),
    )
        .prop_map(|(u, p, c)| {
            let mut v = json!({"username": u, "password": p});
            if let Some(c) = c {
                v["client"] = Value::from(c);
            }
            v.to_string().into_bytes()
        });
    let register = ("[a-zA-Z0-9_]{1,70}", "[ -~]{0,20}").prop_map(|(u, p)| {
        json!({"username": u, "password": p})
            .to_string()
            .into_bytes()
    });
    let nesting =
        (1usize..9000, any::<bool>(), any::<bool>()).prop_map(|(depth, object, inside)| {
            let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
            let leaf = if object { "1" } else { "" };
            let nest = format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth));
            if inside {
                format!("{{\"username\":{nest},\"password\":\"x\"}}").into_bytes()
            } else {
                nest.into_bytes()
            }
        });
    let huge = (1000usize..24_000, prop::sample::select(FIELDS)).prop_map(|(n, field)| {
        let mut v = json!({"username": "someone", "password": "long enough"});
        v[field] = Value::String("é".repeat(n / 2));
        v.to_string().into_bytes()
    });
    let tricky = prop::sample::select(vec![
        "",
        "null",
        "[]",
        "{}",
        "\"username\"",
        "{\"username\":\"a\",\"username\":\"b\",\"password\":\"12345678\"}",
        "{\"username\":\"\\ud800\",\"password\":\"12345678\"}",
        "{\"username\":\"a\\u0000b\",\"password\":\"12345678\"}",
        "{\"username\":1e999,\"password\":\"x\"}",
        "{\"username\":\"a\",\"password\":\"12345678\"} trailing",
        "{\"username\":\"a\",\"password\":\"12345678\",}",
        "\u{feff}{\"username\":\"a\",\"password\":\"12345678\"}",
        "{\"refresh_token\":null}",
        "{\"refresh_token\":\"\"}",
        "{\"refresh_token\":[\"x\"]}",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..300),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        4 => object,
        2 => genuine,
        2 => register,
        1 => nesting,
        1 => huge,
        2 => tricky,
    ]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop_oneof![
        8 => prop::sample::select(vec![
            "application/json",
            "application/json",
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/json;charset=latin1",
            "application/problem+json",
            "application/vnd.api+json",
            "application/json-seq",
            "application/jsonx",
            "text/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/",
            "",
            "*/*",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => header_bytes(40),
    ])
}

#[test]
fn json_bodies_never_break_the_contract() {
    let input = (
        prop::sample::select(ENDPOINTS.to_vec()),
        content_type(),
        body(),
    );
    harness::check(
        "http_json_body",
        500,
        input,
        |(endpoint, content_type, body)| body_case(endpoint, content_type.as_deref(), &body),
    );
}

#[test]
fn json_body_corpus() {
    harness::check_corpus("http_json_body", body_target);
}

// ---------------------------------------------------------------------------
// http_request: any method, path, headers and body, without a credential

/// The property: whatever arrives, the answer keeps the contract.
fn request_case(
    server: &Server,
    method: Method,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
) -> TestCaseResult {
    prop_assume!(path.parse::<axum::http::Uri>().is_ok());
    let head = method == Method::HEAD;
    let call = Call::new(method, path, direct())
        .headers(headers)
        .body(body);
    let reply = block_on(send(&server.xff, call));
    keeps_contract(&reply, head)
}

/// Target `http_request`: `@method`, `@path` and `@body` directives (one
/// line each) and header lines; run against every strategy.
pub(crate) fn request_target(data: &[u8]) -> TestCaseResult {
    let (directives, raw) = lines(data);
    let method = directive(&directives, "method")
        .and_then(|m| Method::from_bytes(m).ok())
        .unwrap_or(Method::GET);
    let path = directive(&directives, "path").map_or_else(
        || "/".to_owned(),
        |p| String::from_utf8_lossy(p).into_owned(),
    );
    let body = directive(&directives, "body").unwrap_or_default().to_vec();
    // No genuine credential here: a logout would end the shared sessions.
    let raw: Vec<RawHeader> = raw
        .into_iter()
        .map(|(n, v)| (n, replace_bytes(&v, "$", "%")))
        .collect();
    for server in servers() {
        let headers = render_all(server, &raw);
        request_case(server, method.clone(), &path, &headers, body.clone())?;
    }
    Ok(())
}

fn path() -> impl Strategy<Value = String> {
    let route = prop::sample::select(vec![
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/me",
        "/auth/session",
        "/auth/sessions",
        "/auth/sessions/",
        "/auth/password",
        "/auth/events",
        "/auth/verify",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "//",
        "/auth/../healthz",
        "/AUTH/ME",
    ]);
    let segment = prop_oneof![
        "[A-Za-z0-9._~-]{0,40}",
        prop::collection::vec(any::<u8>(), 0..20)
            .prop_map(|b| b.iter().map(|b| format!("%{b:02X}")).collect::<String>()),
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
        Just("..".to_owned()),
    ];
    let query = prop::option::of("[A-Za-z0-9=&%._-]{0,40}");
    (route, prop::collection::vec(segment, 0..3), query).prop_map(|(route, segments, query)| {
        let mut path = route.to_owned();
        for s in segments {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(&s);
        }
        if let Some(q) = query {
            path.push('?');
            path.push_str(&q);
        }
        path
    })
}

fn any_headers() -> impl Strategy<Value = Vec<RawHeader>> {
    let name = prop_oneof![
        3 => prop::sample::select(vec![
            "cookie",
            "authorization",
            "content-type",
            "content-length",
            "origin",
            "sec-fetch-site",
            "x-csrf-token",
            "x-forwarded-for",
            "forwarded",
            "host",
            "user-agent",
            "x-request-id",
            "x-original-method",
            "accept",
            "transfer-encoding",
            "expect",
        ])
        .prop_map(HeaderName::from_static),
        1 => "[a-z][a-z0-9-]{0,20}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap()),
    ];
    let value = prop_oneof![
        8 => header_bytes(60),
        1 => (1000usize..40_000).prop_map(|n| vec![b'v'; n]),
    ];
    prop::collection::vec((name, value), 0..80)
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => prop::sample::select(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::CONNECT,
        ]),
        1 => "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

#[test]
fn any_request_keeps_the_contract() {
    let input = (
        any::<Index>(),
        method(),
        path(),
        any_headers(),
        prop_oneof![body(), header_bytes(100)],
    );
    harness::check(
        "http_request",
        300,
        input,
        |(server, method, path, raw, body)| {
            let server = &servers()[server.index(servers().len())];
            // No genuine credential: a request here must not end the shared
            // sessions (a logout, say).
            let raw: Vec<RawHeader> = raw
                .into_iter()
                .map(|(n, v)| (n, replace_bytes(&v, "$", "%")))
                .collect();
            request_case(server, method, &path, &render_all(server, &raw), body)
        },
    );
}

#[test]
fn request_corpus() {
    harness::check_corpus("http_request", request_target);
}

// ---------------------------------------------------------------------------
// http_query: query strings and path ids of the authenticated routes

/// A query string as a URI may carry it: bytes outside a conservative set
/// are percent-encoded.
fn uri_query(raw: &[u8]) -> String {
    raw.iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(*b).to_string(),
            b'-' | b'.' | b'_' | b'~' | b'=' | b'&' | b'%' | b'+' | b',' | b':' | b'@' | b'/' => {
                char::from(*b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The property: with a genuine bearer token, any query string on the
/// authenticated reads and any id in `DELETE /auth/sessions/{id}` keeps the
/// contract; `/auth/events` answers 200 or 400 (and 200 for a plain valid
/// limit); the other reads ignore the query; an id that names none of the
/// caller's sessions is 404.
fn query_case(server: &Server, raw: &[u8]) -> TestCaseResult {
    let query = uri_query(raw);
    for path in [
        "/auth/events",
        "/auth/sessions",
        "/auth/me",
        "/auth/session",
    ] {
        let uri = format!("{path}?{query}");
        prop_assume!(uri.parse::<axum::http::Uri>().is_ok());
        let reply = block_on(send(
            &server.xff,
            Call::new(Method::GET, &uri, direct())
                .header("user-agent", AGENT)
                .header("authorization", format!("Bearer {}", server.bearer)),
        ));
        keeps_contract(&reply, false)?;
        if path == "/auth/events" {
            prop_assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST,
                "events?{} answered {}: {}",
                query,
                reply.status,
                reply.text()
            );
            let plain_limit = query.strip_prefix("limit=").is_some_and(|n| {
                n.bytes().all(|b| b.is_ascii_digit())
                    && n.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n))
            });
            if plain_limit || query.is_empty() {
                prop_assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            }
        } else {
            prop_assert_eq!(
                reply.status,
                StatusCode::OK,
                "{}?{}: {}",
                path,
                query,
                reply.text()
            );
        }
    }
    let reply = block_on(send(
        &server.xff,
        Call::new(Method::DELETE, &format!("/auth/sessions/{query}"), direct())
            .header("user-agent", AGENT)
            .header("authorization", format!("Bearer {}", server.bearer)),
    ));
    keeps_contract(&reply, false)?;
    prop_assert!(
        reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::METHOD_NOT_ALLOWED,
        "DELETE /auth/sessions/{} answered {}",
        query,
        reply.status
    );
    Ok(())
}

/// Target `http_query`: the file is the query string (and the id).
pub(crate) fn query_target(data: &[u8]) -> TestCaseResult {
    for server in servers() {
        query_case(server, data)?;
    }
    Ok(())
}

fn query() -> impl Strategy<Value = Vec<u8>> {
    let cursor = prop_oneof![
        // A cursor as the server would write it, for any time.
        (any::<i64>(), any::<u128>()).prop_map(|(ms, id)| {
            let text = format!("{ms}.{id:032x}");
            base64_url(text.as_bytes())
        }),
        (any::<u64>(), "[0-9a-fA-F-]{0,40}")
            .prop_map(|(ms, id)| base64_url(format!("{ms}.{id}").as_bytes())),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(|b| base64_url(&b)),
        "[A-Za-z0-9_-]{0,200}",
        Just(String::new()),
    ];
    let limit = prop_oneof![
        (0u64..200).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "-1",
            "4294967296",
            "1e2",
            "",
            "0x10",
            "+5",
            " 5",
            "NaN"
        ])
        .prop_map(str::to_owned),
    ];
    let pair = prop_oneof![
        3 => cursor.prop_map(|c| format!("cursor={c}")),
        3 => limit.prop_map(|l| format!("limit={l}")),
        1 => "[a-z]{1,8}=[a-z0-9]{0,8}",
        1 => "[ -~]{0,20}",
    ];
    prop_oneof![
        5 => prop::collection::vec(pair, 0..4).prop_map(|p| p.join("&").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..80),
    ]
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[test]
fn authenticated_queries_keep_the_contract() {
    let input = (any::<Index>(), query());
    harness::check("http_query", 200, input, |(server, raw)| {
        query_case(&servers()[server.index(servers().len())], &raw)
    });
}

#[test]
fn query_corpus() {
    harness::check_corpus("http_query", query_target);
}
