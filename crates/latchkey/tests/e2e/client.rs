//! The Rust client crate (`latchkey-client`) against the real server: the
//! account calls and sign-out in every strategy (this binary runs once per
//! strategy and backend, see `strategies.rs`), and the renewal machinery of
//! `access-refresh` and `auto-refresh` in tests that pick their strategy
//! and short lifetimes themselves. What proves a single refresh is the
//! server's own count (`/metrics`) and a grace period of a millisecond, in
//! which any second use of a refresh token would end the session.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use latchkey_client::{
    Client, DEFAULT_USER_AGENT, Error, FileStore, MemoryStore, SignedOutReason, StoreError,
    TokenStore, Tokens, reqwest::StatusCode,
};
use serde_json::json;

use crate::{devices::agent, support::*};

/// Tests that choose their own strategy run once, not once per strategy.
fn once() -> bool {
    std::env::var_os("LATCHKEY_E2E_STRATEGY").is_none()
}

/// A store that remembers every token it is given as one of the run's
/// secrets (no server log may contain them) and counts its saves.
struct Remembering<S> {
    inner: S,
    saves: AtomicUsize,
}

impl<S: TokenStore> Remembering<S> {
    fn new(inner: S) -> Arc<Self> {
        Arc::new(Self {
            inner,
            saves: AtomicUsize::new(0),
        })
    }

    fn tokens(&self) -> Option<Tokens> {
        self.inner.load().expect("load")
    }

    fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }
}

impl<S: TokenStore> TokenStore for Remembering<S> {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        self.inner.load()
    }
    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        remember_secret(tokens.access_token());
        if let Some(refresh) = tokens.refresh_token() {
            remember_secret(refresh);
        }
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(tokens)
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()
    }
}

type Memory = Arc<Remembering<MemoryStore>>;

/// A client of `server` on a fresh in-memory store it returns too.
fn client(server: &Server) -> (Client, Memory) {
    let store = Remembering::new(MemoryStore::new());
    let client = Client::builder(server.url(""))
        .store(Arc::clone(&store))
        .build()
        .expect("client");
    (client, store)
}

/// A client whose store already holds `tokens`.
fn client_with(server: &Server, tokens: Tokens) -> (Client, Memory) {
    let (client, store) = client(server);
    store.save(&tokens).unwrap();
    (client, store)
}

/// Registers `username` and signs a new client in as them.
async fn signed_in(server: &Server, username: &str) -> (Client, Memory) {
    let (client, store) = client(server);
    client.register(username, PASSWORD).await.expect("register");
    client.login(username, PASSWORD).await.expect("login");
    (client, store)
}

#[track_caller]
fn assert_signed_out<T: std::fmt::Debug>(result: Result<T, Error>, expected: SignedOutReason) {
    match result {
        Err(Error::SignedOut { reason }) => assert_eq!(reason, expected),
        other => panic!("expected SignedOut({expected:?}), got {other:?}"),
    }
}

/// The sum of a counter's series on `server` that carry all of `labels`.
async fn counter(server: &Server, name: &str, labels: &[(&str, &str)]) -> u64 {
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

async fn refreshes(server: &Server, result: &str) -> u64 {
    counter(server, "latchkey_refreshes_total", &[("result", result)]).await
}

/// Requests the server answered on `route` with `status`.
async fn answered(server: &Server, route: &str, status: &str) -> u64 {
    let labels = [("route", route), ("status", status)];
    counter(server, "latchkey_http_requests_total", &labels).await
}

/// The kinds of the user's security events, newest first.
async fn event_kinds(client: &Client) -> Vec<String> {
    let page = client.events(Some(100), None).await.expect("events");
    page.events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_client_signs_in_calls_and_signs_out() {
    let server = Server::start(&[]);
    let (client, store) = client(&server);
    assert!(!client.is_signed_in().await.unwrap());
    assert_signed_out(client.me().await, SignedOutReason::NotSignedIn);

    let registered = client.register("carol", PASSWORD).await.unwrap();
    assert_eq!(registered.username, "carol");
    let taken = client.register("carol", PASSWORD).await.unwrap_err();
    assert_eq!(
        (taken.status(), taken.code()),
        (Some(StatusCode::CONFLICT), Some("conflict"))
    );
    assert!(matches!(
        client.login("carol", "not the password").await,
        Err(Error::InvalidCredentials)
    ));
    client.login("carol", PASSWORD).await.unwrap();
    assert!(client.is_signed_in().await.unwrap());
    let tokens = store.tokens().expect("stored");
    assert_eq!(
        tokens.refresh_token().is_some(),
        strategy() == "access-refresh"
    );
    assert!(tokens.expires_at().is_some());

    let me = client.me().await.unwrap();
    assert_eq!(
        (me.user_id.as_str(), me.username.as_str()),
        (registered.id.as_str(), "carol")
    );
    let sessions = client.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].current && sessions[0].id == me.session_id);
    assert_eq!(sessions[0].client.as_deref(), Some("mobile"));
    let device = sessions[0].device.as_deref().unwrap_or("");
    assert!(device.starts_with("latchkey-client/"), "{device}");

    // The app's own endpoints: forward-auth stands in for one here.
    let verified = client.get("/auth/verify").send().await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.headers()["x-auth-username"], "carol");
    // Other answers come back as they are.
    let missing = client
        .post("/api/orders")
        .json(&json!({"item": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The token never leaves latchkey's origin.
    let elsewhere = client
        .get("http://localhost:1/steal")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(elsewhere, Error::InvalidUrl { .. }),
        "{elsewhere:?}"
    );

    let events = event_kinds(&client).await;
    assert!(events.iter().any(|k| k == "login_succeeded"), "{events:?}");

    let token = client.access_token().await.unwrap();
    client.logout().await.unwrap();
    assert!(!client.is_signed_in().await.unwrap());
    assert!(store.tokens().is_none(), "the store is cleared");
    assert_signed_out(client.me().await, SignedOutReason::NotSignedIn);
    assert_signed_out(
        client.get("/auth/verify").send().await,
        SignedOutReason::NotSignedIn,
    );
    // The server has ended the session, not just the client.
    get_bearer(&server, "/auth/me", &token)
        .await
        .error(401, "session_revoked");
    client.logout().await.expect("signing out twice is fine");
}

#[tokio::test]
async fn signing_out_everywhere_signs_the_other_clients_out() {
    let server = Server::start(&[]);
    let (phone, phone_store) = signed_in(&server, "dan").await;
    let laptop_store = Remembering::new(MemoryStore::new());
    let laptop = Client::builder(server.url(""))
        .user_agent("laptop-tool/2.0")
        .store(Arc::clone(&laptop_store))
        .build()
        .unwrap();
    laptop.login("dan", PASSWORD).await.unwrap();
    let sessions = laptop.sessions().await.unwrap();
    assert_eq!(sessions.len(), 2);
    let current = sessions.iter().find(|s| s.current).unwrap();
    assert_eq!(current.device.as_deref(), Some("laptop-tool/2.0"));

    laptop.logout_all().await.unwrap();
    assert!(laptop_store.tokens().is_none());
    assert_signed_out(phone.me().await, SignedOutReason::Revoked);
    assert!(phone_store.tokens().is_none(), "SignedOut clears the store");
    assert!(!phone.is_signed_in().await.unwrap());
    // Later calls say why too, until the next login.
    assert_signed_out(
        phone.get("/auth/verify").send().await,
        SignedOutReason::Revoked,
    );
    phone.login("dan", PASSWORD).await.unwrap();
    assert_eq!(phone.me().await.unwrap().username, "dan");
}

#[tokio::test]
async fn ending_one_session_or_changing_the_password_signs_other_devices_out() {
    let server = Server::start(&[]);
    let (tablet, _) = signed_in(&server, "erin").await;
    let (phone, _) = client(&server);
    phone.login("erin", PASSWORD).await.unwrap();
    let phone_session = phone.me().await.unwrap().session_id;

    tablet.revoke_session(&phone_session).await.unwrap();
    assert_signed_out(
        phone.get("/auth/session").send().await,
        SignedOutReason::Revoked,
    );
    let gone = tablet.revoke_session(&phone_session).await.unwrap_err();
    assert_eq!(gone.code(), Some("not_found"));

    let (watch, _) = client(&server);
    watch.login("erin", PASSWORD).await.unwrap();
    let new_password = "a whole new passphrase";
    remember_secret(new_password);
    assert!(matches!(
        tablet
            .change_password("not the password", new_password)
            .await,
        Err(Error::InvalidCredentials)
    ));
    tablet
        .change_password(PASSWORD, new_password)
        .await
        .unwrap();
    assert_eq!(
        tablet.me().await.unwrap().username,
        "erin",
        "this one stays"
    );
    assert_signed_out(watch.me().await, SignedOutReason::Revoked);
    assert!(matches!(
        watch.login("erin", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
    watch.login("erin", new_password).await.unwrap();
}

#[tokio::test]
async fn the_file_store_keeps_the_login_between_runs() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config/mytool/session.json");
    let run = || {
        Client::builder(server.url(""))
            .store(Remembering::new(FileStore::new(&path)))
            .build()
            .unwrap()
    };
    let first = run();
    first.register("fay", PASSWORD).await.unwrap();
    first.login("fay", PASSWORD).await.unwrap();
    let session = first.me().await.unwrap().session_id;
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(saved["access_token"].is_string(), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The next run is signed in without a login, in the same session.
    let second = run();
    assert!(second.is_signed_in().await.unwrap());
    assert_eq!(second.me().await.unwrap().session_id, session);
    second.logout().await.unwrap();
    assert!(!path.exists(), "logout removes the file");
    // A process that still holds the tokens learns the session is over.
    assert_signed_out(first.me().await, SignedOutReason::Revoked);
    assert_signed_out(run().me().await, SignedOutReason::NotSignedIn);
}

#[tokio::test]
async fn a_client_reaches_latchkey_mounted_under_a_prefix() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_BASE_PATH", "/id")]);
    let store = Remembering::new(MemoryStore::new());
    let client = Client::builder(server.url("/id"))
        .store(Arc::clone(&store))
        .build()
        .unwrap();
    client.register("gus", PASSWORD).await.unwrap();
    client.login("gus", PASSWORD).await.unwrap();
    assert_eq!(client.me().await.unwrap().username, "gus");
    let verified = client.get("auth/verify").send().await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.url().path(), "/id/auth/verify");
    client.logout().await.unwrap();
    assert_signed_out(client.me().await, SignedOutReason::NotSignedIn);
}

/// Short lifetimes for the renewal tests: access tokens of a few seconds
/// (JWT times are whole seconds, so the client may learn one second less),
/// no clock leeway, and the given grace period: one millisecond, so that a
/// refresh token used twice, even by requests racing each other, ends the
/// session.
fn short_lived(strategy: &str, ttl: &str, grace: &str) -> Server {
    Server::start_with_env(
        &["--strategy", strategy, "--access-ttl", ttl],
        &[
            ("LATCHKEY_CLOCK_LEEWAY", "1ms"),
            ("LATCHKEY_REFRESH_GRACE", grace),
        ],
    )
}

#[tokio::test]
async fn access_refresh_renews_ahead_of_expiry_and_the_file_keeps_the_new_pair() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh", "6s", "1ms");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    let store = Remembering::new(FileStore::new(&path));
    // The default 30 s margin, which for a 6 s token is half its life.
    let client = Client::builder(server.url(""))
        .store(Arc::clone(&store))
        .build()
        .unwrap();
    client.register("hal", PASSWORD).await.unwrap();
    client.login("hal", PASSWORD).await.unwrap();
    let first = store.tokens().unwrap();
    client.me().await.unwrap();
    client.me().await.unwrap();
    assert_eq!(
        refreshes(&server, "success").await,
        0,
        "not before it is due"
    );

    tokio::time::sleep(Duration::from_millis(3500)).await;
    client.me().await.unwrap();
    assert_eq!(refreshes(&server, "success").await, 1);
    assert_eq!(
        answered(&server, "/auth/me", "401").await,
        0,
        "refreshed before, not after"
    );
    let second = store.tokens().unwrap();
    assert_ne!(second.access_token(), first.access_token());
    assert_ne!(second.refresh_token(), first.refresh_token());

    // Another run reads the new pair from the file and keeps going.
    let next_run = Client::builder(server.url(""))
        .store(Remembering::new(FileStore::new(&path)))
        .build()
        .unwrap();
    assert_eq!(next_run.me().await.unwrap().username, "hal");
    let kinds = event_kinds(&next_run).await;
    assert!(
        !kinds.iter().any(|k| k == "refresh_reuse_detected"),
        "{kinds:?}"
    );
}

/// `POST path` with a JSON body, from the client's user agent: a session is
/// bound to its agent, and another one presenting its tokens ends it.
async fn post_as_client(server: &Server, path: &str, body: serde_json::Value) -> Reply {
    remember_secrets_in(&body);
    let res = agent(DEFAULT_USER_AGENT)
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    Reply::from(res).await
}

/// Tokens from a raw mobile login of `username`, without their expiry (as
/// if imported from elsewhere): the client cannot refresh ahead of time
/// and learns of expiry from the server's `401`.
async fn tokens_without_expiry(server: &Server, username: &str) -> Tokens {
    register(server, username).await;
    let r = post_as_client(
        server,
        "/auth/login",
        json!({"username": username, "password": PASSWORD, "client": "mobile"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    Tokens::new(
        r.body["access_token"].as_str().unwrap(),
        r.body["refresh_token"].as_str().map(str::to_owned),
        None,
    )
}

#[tokio::test]
async fn access_refresh_refreshes_once_on_a_401_and_replays_the_request() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh", "2s", "1ms");
    let tokens = tokens_without_expiry(&server, "ida").await;
    let (client, store) = client_with(&server, tokens.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;

    // A request with a JSON body: refused, refreshed, sent again whole.
    let new_password = "ida's second passphrase";
    remember_secret(new_password);
    client
        .change_password(PASSWORD, new_password)
        .await
        .unwrap();
    assert_eq!(answered(&server, "/auth/password", "401").await, 1);
    assert_eq!(answered(&server, "/auth/password", "204").await, 1);
    assert_eq!(refreshes(&server, "success").await, 1);
    assert_ne!(
        store.tokens().unwrap().refresh_token(),
        tokens.refresh_token()
    );
    assert_eq!(client.me().await.unwrap().username, "ida");
}

/// Sixteen requests at once, with a token that has expired; `known` says
/// whether the client knows the expiry (then it refreshes ahead) or learns
/// it from sixteen `401`s. Either way: one refresh, everyone served.
async fn sixteen_requests_share_one_refresh(known: bool) {
    let server = short_lived("access-refresh", "2s", "1ms");
    let (client, _store) = if known {
        signed_in(&server, "jo").await
    } else {
        let tokens = tokens_without_expiry(&server, "jo").await;
        client_with(&server, tokens)
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let client = client.clone();
        set.spawn(async move { client.get("/auth/sessions").send().await });
    }
    for res in set.join_all().await {
        let res = res.expect("served");
        assert_eq!(res.status(), 200);
    }
    assert_eq!(refreshes(&server, "success").await, 1, "one refresh");
    assert_eq!(refreshes(&server, "revoked").await, 0);
    assert_eq!(refreshes(&server, "refused").await, 0);
    // Known: refreshed before any was sent. Unknown: refused together (all
    // sixteen, unless one was slow to start and went out after the refresh).
    let refused = answered(&server, "/auth/sessions", "401").await;
    if known {
        assert_eq!(refused, 0);
    } else {
        assert!((2..=16).contains(&refused), "{refused} refused");
    }
    // Had the refresh token been spent twice, the session would be over.
    let sessions = client.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    let kinds = event_kinds(&client).await;
    assert!(
        !kinds
            .iter()
            .any(|k| k == "refresh_reuse_detected" || k == "session_revoked"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn sixteen_requests_after_expiry_share_one_early_refresh() {
    if once() {
        sixteen_requests_share_one_refresh(true).await;
    }
}

#[tokio::test]
async fn sixteen_refused_requests_share_one_refresh() {
    if once() {
        sixteen_requests_share_one_refresh(false).await;
    }
}

#[tokio::test]
async fn access_refresh_signs_out_when_the_refresh_token_is_refused() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh", "2s", "1ms");
    let (client, store) = signed_in(&server, "kim").await;
    // A thief refreshes with a copy of the token (and of the app's user
    // agent, or the binding alone would end the session); the app's own
    // refresh is then the second use, and ends the session for both.
    let stolen = store.tokens().unwrap().refresh_token().unwrap().to_owned();
    let r = post_as_client(&server, "/auth/refresh", json!({ "refresh_token": stolen })).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_signed_out(client.me().await, SignedOutReason::Revoked);
    assert!(store.tokens().is_none());
    let thief = json!({ "refresh_token": r.body["refresh_token"] });
    post_as_client(&server, "/auth/refresh", thief)
        .await
        .error(401, "session_revoked");
}

#[tokio::test]
async fn auto_refresh_keeps_the_renewed_token() {
    if !once() {
        return;
    }
    // A 1 s grace: presenting a renewed-away token later ends the session.
    let server = short_lived("auto-refresh", "2s", "1s");
    let (client, store) = signed_in(&server, "lee").await;
    let original = store.tokens().unwrap();
    assert!(original.refresh_token().is_none());
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(client.me().await.unwrap().username, "lee");
    let renewed = store.tokens().unwrap();
    assert_ne!(renewed.access_token(), original.access_token());

    // Sixteen requests with the renewed token, expired in turn: one
    // renewal, which the client keeps.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let saves = store.saves();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let client = client.clone();
        set.spawn(async move { client.get("/auth/verify").send().await });
    }
    for res in set.join_all().await {
        assert_eq!(res.expect("served").status(), 200);
    }
    assert_eq!(store.saves(), saves + 1, "one renewal kept");
    let latest = store.tokens().unwrap();
    assert_ne!(latest.access_token(), renewed.access_token());

    // Past the grace period only the newest generation is accepted: the
    // client has it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.me().await.unwrap().username, "lee");
    // Presenting the first token now is a replay and ends the session.
    get_bearer(&server, "/auth/me", original.access_token())
        .await
        .error(401, "session_revoked");
    assert_signed_out(client.me().await, SignedOutReason::Revoked);
    assert!(store.tokens().is_none());
}
