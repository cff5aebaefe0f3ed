//! Forward auth through a real nginx: Debian's `/usr/sbin/nginx` runs the
//! recipe `deploy/nginx/latchkey.conf` (only its two upstream addresses and
//! its `listen` line replaced) in front of latchkey and of a tiny app that
//! echoes the `X-Auth-*` headers it receives and counts its requests.
//!
//! Without nginx the tests print "skipped: nginx not installed" and pass,
//! unless `CI` is set: then they fail.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{
    Method,
    header::{AUTHORIZATION, COOKIE},
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::support::*;

const NGINX: &str = "/usr/sbin/nginx";

/// Whether nginx is installed. Without it a test is skipped, except on CI.
fn nginx_installed() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{NGINX} is missing, and CI needs the nginx forward-auth tests"
    );
    println!("skipped: nginx not installed");
    false
}

/// The guarded app: answers every request `200` with its method, target
/// and every `X-Auth-*` header it received (as `[name, value]` pairs, so a
/// duplicate shows), and counts the requests that reached it.
struct App {
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("app bind");
        let port = listener.local_addr().expect("app address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    // A connection nginx drops mid-request is not a finding.
                    let _ = echo(stream, &counter).await;
                });
            }
        });
        Self { port, hits, task }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Minimal HTTP/1.1 on one (keep-alive) connection from nginx.
async fn echo(stream: TcpStream, hits: &AtomicUsize) -> std::io::Result<()> {
    let mut conn = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if conn.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut words = request_line.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        let target = words.next().unwrap_or_default().to_owned();
        let mut auth = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if conn.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if name.starts_with("x-auth") || name.starts_with("x_auth") {
                auth.push(json!([name, value]));
            }
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body).await?;
        hits.fetch_add(1, Ordering::SeqCst);
        let reply = json!({
            "method": method,
            "target": target,
            "body": String::from_utf8_lossy(&body),
            "auth_headers": auth,
        })
        .to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        let stream = conn.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(reply.as_bytes()).await?;
    }
}

/// nginx running the recipe in a directory of its own; killed on drop.
struct Nginx {
    base: String,
    child: Child,
    dir: TempDir,
}

fn recipe() -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "deploy", "nginx"]
        .iter()
        .collect::<PathBuf>()
        .join("latchkey.conf");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `recipe` with each `from` (which must occur exactly once) replaced.
fn substitute(recipe: &str, replacements: &[(&str, String)]) -> String {
    let mut out = recipe.to_owned();
    for (from, to) in replacements {
        assert_eq!(
            out.matches(from).count(),
            1,
            "the nginx recipe should contain `{from}` exactly once"
        );
        out = out.replace(from, to);
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Nginx {
    fn start(latchkey: &Server, app: &App) -> Self {
        let recipe = recipe();
        let latchkey_addr = latchkey.base.trim_start_matches("http://");
        let mut last_log = String::new();
        // The port is free when picked but could be taken before nginx
        // binds it: try a few.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let site = substitute(
                &recipe,
                &[
                    ("server 127.0.0.1:8080;", format!("server {latchkey_addr};")),
                    (
                        "server 127.0.0.1:3000;",
                        format!("server 127.0.0.1:{};", app.port),
                    ),
                    ("listen 80;", format!("listen 127.0.0.1:{port};")),
                ],
            );
            let d = dir.path().display();
            // One process (no master, no workers switching to `nobody`):
            // nothing outside the temporary directory is read or written, as
            // root or not, and killing the child stops all of nginx.
            let conf = format!(
                "master_process off;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n\
                 client_body_temp_path {d}/client_body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 access_log {d}/access.log;\n\
                 include {d}/latchkey.conf;\n\
                 }}\n"
            );
            std::fs::write(dir.path().join("latchkey.conf"), site).expect("write site");
            std::fs::write(dir.path().join("nginx.conf"), conf).expect("write conf");
            let log = std::fs::File::create(dir.path().join("nginx.log")).expect("log");
            let child = Command::new(NGINX)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .arg("-g")
                .arg(format!("daemon off; pid {d}/nginx.pid; error_log stderr;"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start nginx");
            let mut nginx = Self {
                base: format!("http://127.0.0.1:{port}"),
                child,
                dir,
            };
            match nginx.wait_ready(port) {
                Ok(()) => return nginx,
                Err(log) => last_log = log,
            }
        }
        panic!("nginx did not start:\n{last_log}");
    }

    /// Waits until nginx accepts connections; its log if it exits first.
    fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not listening after 20 s\n{}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nginx.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` through nginx with `headers` (and no cookie jar).
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = http().request(method, self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Reply::from(req.send().await.expect("request through nginx")).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers).await
    }

    async fn post_json(&self, path: &str, body: Value) -> Reply {
        remember_secrets_in(&body);
        let r = http()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request through nginx");
        Reply::from(r).await
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("nginx log:\n{}", self.log());
        }
    }
}

/// A browser signed in through nginx, with its cookie sent by hand (a jar
/// would drop it on logout, and a test of revocation needs it kept).
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
    session_id: String,
}

async fn browser_login(nginx: &Nginx, username: &str) -> Browser {
    let r = nginx
        .post_json(
            "/auth/login",
            json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let set_cookie = r.session_cookie().expect("session cookie");
    let field = |name: &str| r.body[name].as_str().expect(name).to_owned();
    Browser {
        cookie: cookie_pair(&set_cookie),
        csrf: field("csrf_token"),
        user_id: field("user_id"),
        session_id: field("session_id"),
    }
}

/// `name=value` of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

async fn app_login(nginx: &Nginx, username: &str) -> String {
    let r = nginx
        .post_json(
            "/auth/login",
            json!({"username": username, "password": PASSWORD, "client": "mobile"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The `X-Auth-*` headers the app received, sorted by name.
fn seen(r: &Reply) -> Vec<(String, String)> {
    assert_eq!(r.status, 200, "{}", r.raw);
    let mut pairs: Vec<(String, String)> = r.body["auth_headers"]
        .as_array()
        .unwrap_or_else(|| panic!("not the app's answer: {}", r.raw))
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// Exactly the identity headers latchkey vouches for, each once.
fn identity(user_id: &str, username: &str, session_id: &str) -> Vec<(String, String)> {
    vec![
        ("x-auth-session-id".to_owned(), session_id.to_owned()),
        ("x-auth-user-id".to_owned(), user_id.to_owned()),
        ("x-auth-username".to_owned(), username.to_owned()),
    ]
}

#[tokio::test]
async fn nginx_lets_only_latchkeys_users_reach_the_app_with_their_identity() {
    if !nginx_installed() {
        return;
    }
    let server = Server::start(&["--trusted-proxies", "127.0.0.1/32"]);
    let app = App::start().await;
    let nginx = Nginx::start(&server, &app);

    // latchkey's own pages and API go straight to latchkey, unguarded.
    for path in ["/", "/account", "/latchkey.js", "/assets/app.css"] {
        let r = nginx.get(path, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.raw);
        assert!(r.body["auth_headers"].is_null(), "{path} reached the app");
    }
    let r = nginx
        .post_json(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let web = browser_login(&nginx, "alice").await;
    let token = app_login(&nginx, "alice").await;
    let me = nginx
        .get(
            "/auth/me",
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.raw);
    let app_session = me.body["session_id"].as_str().unwrap().to_owned();
    assert_eq!(app.hits(), 0, "latchkey's routes never reach the app");

    // A browser's cookie and an app's bearer token both reach the app,
    // which learns who is calling from latchkey alone.
    let r = nginx
        .get(
            "/api/notes?page=2",
            &[(COOKIE.as_str(), web.cookie.as_str())],
        )
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &web.session_id));
    assert_eq!(r.body["target"], "/api/notes?page=2");
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &app_session));
    assert_eq!(app.hits(), 2);

    // Identity headers a client sends itself never reach the app: nginx
    // replaces them (names match in any letter case) and drops underscored
    // lookalikes.
    let r = nginx
        .get(
            "/api/notes",
            &[
                (AUTHORIZATION.as_str(), bearer(&token).as_str()),
                ("x-auth-user-id", "00000000-0000-0000-0000-000000000000"),
                ("X-AUTH-USERNAME", "root"),
                ("X-Auth-Session-Id", "forged"),
                ("x_auth_user_id", "forged"),
            ],
        )
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &app_session));
    assert_eq!(app.hits(), 3);

    // No credential, a bad one, or only forged identity headers: latchkey's
    // 401 with its JSON error, and the app never sees the request.
    let tampered = format!("Bearer {token}x");
    let refused: [&[(&str, &str)]; 5] = [
        &[],
        &[(AUTHORIZATION.as_str(), "Bearer not-a-token")],
        &[(
            COOKIE.as_str(),
            "latchkey_session=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        )],
        &[
            ("x-auth-user-id", web.user_id.as_str()),
            ("x-auth-username", "alice"),
        ],
        &[(AUTHORIZATION.as_str(), tampered.as_str())],
    ];
    for headers in refused {
        let r = nginx.get("/api/notes", headers).await;
        r.error(401, "unauthenticated");
        assert!(r.body.get("auth_headers").is_none(), "{headers:?}");
    }
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), "Bearer not-a-token")],
        )
        .await;
    // Once: auth_request copies it from the first answer, and the recipe
    // hides the repeated one of the second.
    let challenges: Vec<_> = r.headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges.len(), 1, "{:?}", r.headers);
    assert!(
        challenges[0].as_bytes().starts_with(b"Bearer"),
        "{:?}",
        r.headers
    );
    assert_eq!(app.hits(), 3, "a refused request reached the app");

    // Forward auth enforces CSRF for the guarded method: a cookie alone
    // cannot POST to the app; the token (and a same-site Origin) can. A
    // bearer token needs no CSRF token. The body goes to the app only.
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = http()
            .post(nginx.url("/api/notes"))
            .header("content-type", "application/json")
            .body(r#"{"text":"hi"}"#);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        async move { Reply::from(req.send().await.expect("post")).await }
    };
    let cookie = || ("cookie", web.cookie.clone());
    post(vec![cookie()]).await.error(403, "csrf_failed");
    post(vec![cookie(), ("x-csrf-token", "wrong".to_owned())])
        .await
        .error(403, "csrf_failed");
    post(vec![
        cookie(),
        ("x-csrf-token", web.csrf.clone()),
        ("origin", "http://evil.example".to_owned()),
    ])
    .await
    .error(403, "csrf_failed");
    assert_eq!(app.hits(), 3, "a forged POST reached the app");
    let r = post(vec![
        cookie(),
        ("x-csrf-token", web.csrf.clone()),
        ("origin", nginx.base.clone()),
    ])
    .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &web.session_id));
    assert_eq!(
        (&r.body["method"], &r.body["body"]),
        (&json!("POST"), &json!(r#"{"text":"hi"}"#))
    );
    let r = post(vec![("authorization", bearer(&token))]).await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &app_session));
    assert_eq!(app.hits(), 5);

    // Signing out through nginx ends the session at once: the very next
    // request with the same cookie is refused before the app.
    let out = nginx
        .send(
            Method::POST,
            "/auth/logout",
            &[
                (COOKIE.as_str(), web.cookie.as_str()),
                ("x-csrf-token", web.csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(out.status, 204, "{}", out.raw);
    nginx
        .get("/api/notes", &[(COOKIE.as_str(), web.cookie.as_str())])
        .await
        .error(401, "session_revoked");

    // So does revoking another device's session: the app's other token is
    // refused at once, the revoking one still works.
    let other = app_login(&nginx, "alice").await;
    let other_me = nginx
        .get(
            "/auth/me",
            &[(AUTHORIZATION.as_str(), bearer(&other).as_str())],
        )
        .await;
    let other_session = other_me.body["session_id"].as_str().unwrap().to_owned();
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&other).as_str())],
        )
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &other_session));
    let gone = nginx
        .send(
            Method::DELETE,
            &format!("/auth/sessions/{other_session}"),
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.raw);
    nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&other).as_str())],
        )
        .await
        .error(401, "session_revoked");
    assert_eq!(app.hits(), 6, "a revoked session reached the app");
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &app_session));
}

#[tokio::test]
async fn nginx_relays_auto_refresh_renewals_to_the_client() {
    // This test picks its strategy: run it in the default run and in the
    // auto-refresh one, not once per strategy.
    if std::env::var_os("LATCHKEY_E2E_STRATEGY").is_some() && strategy() != "auto-refresh" {
        return;
    }
    if !nginx_installed() {
        return;
    }
    // 3 s tokens (up to 4 s with JWT's whole seconds; shorter ones made the
    // "no renewal yet" checks flaky on a loaded machine) and a tiny leeway, as
    // in refresh.rs, so expiry comes within the test.
    let server = Server::start_with_env(
        &[
            "--strategy",
            "auto-refresh",
            "--access-ttl",
            "3s",
            "--trusted-proxies",
            "127.0.0.1/32",
        ],
        &[("LATCHKEY_CLOCK_LEEWAY", "1ms")],
    );
    let app = App::start().await;
    let nginx = Nginx::start(&server, &app);
    let r = nginx
        .post_json(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let web = browser_login(&nginx, "alice").await;
    let token = app_login(&nginx, "alice").await;

    // A live credential: no renewal, so neither header is added.
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(seen(&r).len(), 3);
    assert!(r.header("x-refreshed-token").is_none(), "{:?}", r.headers);
    assert!(r.set_cookies().is_empty(), "{:?}", r.headers);
    let r = nginx
        .get("/api/notes", &[(COOKIE.as_str(), web.cookie.as_str())])
        .await;
    assert_eq!(seen(&r).len(), 3);
    assert!(r.set_cookies().is_empty(), "{:?}", r.headers);

    tokio::time::sleep(Duration::from_millis(4200)).await;

    // An app's expired token still gets through, and the response carries
    // the renewed token, which then works without another renewal.
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&token).as_str())],
        )
        .await;
    assert_eq!(
        seen(&r)[1],
        ("x-auth-user-id".to_owned(), web.user_id.clone())
    );
    assert_eq!(seen(&r)[2].1, "alice");
    let fresh = r
        .header("x-refreshed-token")
        .unwrap_or_else(|| panic!("no X-Refreshed-Token in {:?}", r.headers))
        .to_owned();
    remember_secret(&fresh);
    assert_ne!(fresh, token);
    assert!(r.set_cookies().is_empty(), "{:?}", r.headers);
    let r = nginx
        .get(
            "/api/notes",
            &[(AUTHORIZATION.as_str(), bearer(&fresh).as_str())],
        )
        .await;
    assert_eq!(seen(&r)[1].1, web.user_id);
    assert!(r.header("x-refreshed-token").is_none(), "{:?}", r.headers);

    // A browser's expired cookie: the response sets the renewed cookie,
    // which then works (also for a POST with the same CSRF token).
    let r = nginx
        .get("/api/notes", &[(COOKIE.as_str(), web.cookie.as_str())])
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &web.session_id));
    let renewed = r
        .session_cookie()
        .unwrap_or_else(|| panic!("no renewed cookie in {:?}", r.headers));
    assert!(
        renewed.contains("HttpOnly") && renewed.contains("Path=/"),
        "{renewed}"
    );
    assert!(r.header("x-refreshed-token").is_none(), "{:?}", r.headers);
    let renewed = cookie_pair(&renewed);
    assert_ne!(renewed, web.cookie);
    let r = nginx
        .get("/api/notes", &[(COOKIE.as_str(), renewed.as_str())])
        .await;
    assert_eq!(seen(&r), identity(&web.user_id, "alice", &web.session_id));
    assert!(r.set_cookies().is_empty(), "{:?}", r.headers);
    let r = nginx
        .send(
            Method::POST,
            "/api/notes",
            &[
                (COOKIE.as_str(), renewed.as_str()),
                ("x-csrf-token", web.csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.body["method"], "POST", "{}", r.raw);
    assert_eq!(app.hits(), 7);
}
