//! The notes app over real sockets, as its web and mobile clients use it,
//! in every strategy.

use std::net::SocketAddr;

use latchkey::{Config, Latchkey};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const STRATEGIES: [&str; 4] = ["session", "stateful-jwt", "access-refresh", "auto-refresh"];
const PASSWORD: &str = "correct horse battery staple";

/// Sending, for tests: any failure to get an answer is the test's failure.
trait Sent {
    async fn go(self) -> reqwest::Response;
    async fn value(self) -> Value;
}

impl Sent for reqwest::RequestBuilder {
    async fn go(self) -> reqwest::Response {
        self.send().await.unwrap()
    }

    async fn value(self) -> Value {
        self.go().await.json().await.unwrap()
    }
}

/// The app on a loopback port, with its own database.
struct Running {
    base: String,
    _dir: tempfile::TempDir,
}

async fn start(strategy: &str, access_ttl: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml(&format!(
        "strategy = {strategy:?}\naccess_ttl = {access_ttl:?}\nbase_path = \"/id\"\n\
         cookie_secure = \"never\"\nclock_leeway = \"1ms\""
    ))
    .unwrap();
    config.database = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let latchkey = Latchkey::start(&config).await.unwrap();
    let app = latchkey_example_notes::app(&latchkey);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Running {
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn register(&self, http: &reqwest::Client, username: &str) {
        let r = http
            .post(self.url("/id/auth/register"))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .go()
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// A mobile login: the access token.
    async fn bearer(&self, username: &str) -> String {
        let http = reqwest::Client::new();
        self.register(&http, username).await;
        let body: Value = http
            .post(self.url("/id/auth/login"))
            .json(&json!({ "username": username, "password": PASSWORD, "client": "mobile" }))
            .value()
            .await;
        body["access_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn an_app_keeps_each_users_notes_behind_its_bearer_token() {
    for strategy in STRATEGIES {
        let app = start(strategy, "5m").await;
        let http = reqwest::Client::new();
        let alice = app.bearer("alice").await;
        let bob = app.bearer("bob").await;

        let r = http.get(app.url("/notes")).go().await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{strategy}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthenticated", "{strategy}");

        let r = http
            .post(app.url("/notes"))
            .bearer_auth(&alice)
            .json(&json!({ "text": "buy milk" }))
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{strategy}");
        let note: Value = r.json().await.unwrap();

        let mine: Value = http
            .get(app.url("/notes"))
            .bearer_auth(&alice)
            .value()
            .await;
        assert_eq!(mine[0]["text"], "buy milk", "{strategy}");
        let theirs: Value = http.get(app.url("/notes")).bearer_auth(&bob).value().await;
        assert_eq!(theirs, json!([]), "{strategy}");

        let id = note["id"].as_str().unwrap();
        let r = http
            .delete(app.url(&format!("/notes/{id}")))
            .bearer_auth(&bob)
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{strategy}");

        // Signing out everywhere reaches the app's routes at once.
        let r = http
            .post(app.url("/id/auth/logout-all"))
            .bearer_auth(&alice)
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{strategy}");
        let r = http.get(app.url("/notes")).bearer_auth(&alice).go().await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{strategy}");
        assert!(
            r.headers().contains_key(header::WWW_AUTHENTICATE),
            "{strategy}"
        );
    }
}

#[tokio::test]
async fn a_browser_needs_the_csrf_token_on_the_apps_unsafe_routes() {
    for strategy in STRATEGIES {
        let app = start(strategy, "5m").await;
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        app.register(&browser, "carol").await;
        let r = browser
            .post(app.url("/id/auth/login"))
            .json(&json!({ "username": "carol", "password": PASSWORD, "client": "web" }))
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{strategy}");
        for cookie in r.headers().get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            if cookie.starts_with("latchkey_refresh=") {
                assert!(cookie.contains("Path=/id/auth/refresh"), "{cookie}");
            } else {
                assert!(cookie.contains("Path=/;"), "{cookie}");
            }
        }
        let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();

        let home: Value = browser.get(app.url("/")).value().await;
        assert_eq!(home, json!({ "signed_in": true, "username": "carol" }));

        let r = browser
            .post(app.url("/notes"))
            .json(&json!({ "text": "forged?" }))
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{strategy}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_failed");

        let r = browser
            .post(app.url("/notes"))
            .header("x-csrf-token", &csrf)
            .header(header::ORIGIN, "https://evil.example")
            .json(&json!({ "text": "cross-site" }))
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{strategy}");

        let r = browser
            .post(app.url("/notes"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "text": "mine" }))
            .go()
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{strategy}");
        let notes: Value = browser.get(app.url("/notes")).value().await;
        assert_eq!(notes.as_array().unwrap().len(), 1, "{strategy}");
    }
}

#[tokio::test]
async fn anyone_may_call_the_open_route_but_a_bad_credential_is_refused() {
    let app = start("session", "5m").await;
    let http = reqwest::Client::new();
    let home: Value = http.get(app.url("/")).value().await;
    assert_eq!(home, json!({ "signed_in": false }));
    let r = http.get(app.url("/")).bearer_auth("not-a-token").go().await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_auto_refresh_token_is_renewed_on_the_apps_route() {
    let app = start("auto-refresh", "1s").await;
    let http = reqwest::Client::new();
    let token = app.bearer("dave").await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = http.get(app.url("/notes")).bearer_auth(&token).go().await;
    assert_eq!(r.status(), StatusCode::OK);
    let renewed = r.headers()["x-refreshed-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(renewed, token);
    let r = http.get(app.url("/notes")).bearer_auth(&renewed).go().await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers().contains_key("x-refreshed-token"));
}

#[tokio::test]
async fn latchkeys_routes_and_pages_live_under_the_prefix() {
    let app = start("session", "5m").await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/id/healthz")).go().await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.get(app.url("/auth/me")).go().await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "only under /id");
    for page in ["/id", "/id/"] {
        let r = http.get(app.url(page)).go().await;
        assert_eq!(r.status(), StatusCode::OK, "{page}");
        let html = r.text().await.unwrap();
        assert!(html.contains("href=\"/id/assets/app.css\""), "{page}");
        assert!(html.contains("src=\"/id/assets/login.js\""), "{page}");
    }
    let script = http
        .get(app.url("/id/assets/login.js"))
        .go()
        .await
        .text()
        .await
        .unwrap();
    assert!(script.contains("from \"../latchkey.js\""));
    let r = http.get(app.url("/id/latchkey.js")).go().await;
    assert_eq!(r.status(), StatusCode::OK);
}
