//! Devices and stolen-token detection: the device list, the session's
//! binding to its client, the anomaly policies, and which forwarded
//! headers are believed.

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::support::*;

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
pub const FIREFOX_UPDATED: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0.1";
pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
pub const PHONE: &str = "latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)";

/// A client that presents `agent` and keeps no cookies.
pub fn agent(user_agent: &str) -> Client {
    Client::builder()
        .user_agent(user_agent)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A browser (cookie jar) that presents `agent`.
fn browser_as(user_agent: &str) -> Client {
    Client::builder()
        .user_agent(user_agent)
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Logs a browser presenting `user_agent` in: its cookie jar and the
/// login reply (which holds the CSRF token).
async fn browser_login(server: &Server, username: &str, user_agent: &str) -> (Client, Reply) {
    let browser = browser_as(user_agent);
    let login = Reply::from(
        browser
            .post(server.url("/auth/login"))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("login"),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.raw);
    (browser, login)
}

/// Logs an app in from `user_agent` (and, through a trusted proxy, from
/// `forwarded_for`), returning its bearer token.
pub async fn app_login(
    server: &Server,
    username: &str,
    user_agent: &str,
    forwarded_for: Option<&str>,
) -> String {
    let mut req = agent(user_agent)
        .post(server.url("/auth/login"))
        .json(&json!({ "username": username, "password": PASSWORD, "client": "mobile" }));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    let r = Reply::from(req.send().await.expect("login")).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// `GET path` with a bearer token, from `user_agent` and optionally a
/// forwarded address.
pub async fn get_as(
    server: &Server,
    path: &str,
    token: &str,
    user_agent: &str,
    forwarded_for: Option<&str>,
) -> Reply {
    let mut req = agent(user_agent).get(server.url(path)).bearer_auth(token);
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    Reply::from(req.send().await.expect("request")).await
}

/// The caller's events, newest first (the first page of 100).
pub async fn events_of(server: &Server, token: &str, user_agent: &str) -> Vec<Value> {
    events_from(server, token, user_agent, None).await
}

/// The same, asked through a trusted proxy for `forwarded_for`.
pub async fn events_from(
    server: &Server,
    token: &str,
    user_agent: &str,
    forwarded_for: Option<&str>,
) -> Vec<Value> {
    let r = get_as(
        server,
        "/auth/events?limit=100",
        token,
        user_agent,
        forwarded_for,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["events"].as_array().expect("events").clone()
}

/// How many events are of `kind`.
pub fn count_kind(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

/// How many events are of `kind` with `reason`.
pub fn count(events: &[Value], kind: &str, reason: &str) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["reason"] == reason)
        .count()
}

#[tokio::test]
async fn a_token_replayed_from_another_browser_is_refused_and_its_session_revoked() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, None).await;
    assert_eq!(
        get_as(&server, "/auth/me", &token, PHONE, None)
            .await
            .status,
        200
    );

    // A copy of the token, used from a desktop browser.
    get_as(&server, "/auth/me", &token, CHROME, None)
        .await
        .error(401, "session_revoked");
    // The session is over for its owner too: whoever holds a copy is out.
    get_as(&server, "/auth/me", &token, PHONE, None)
        .await
        .error(401, "session_revoked");

    let fresh = app_login(&server, "alice", PHONE, None).await;
    let events = events_of(&server, &fresh, PHONE).await;
    assert_eq!(count(&events, "anomaly_detected", "user_agent_changed"), 1);
    assert_eq!(count(&events, "session_revoked", "anomaly"), 1);
    let anomaly = events
        .iter()
        .find(|e| e["type"] == "anomaly_detected")
        .unwrap();
    assert_eq!(anomaly["device"], "Chrome on Windows", "{anomaly}");
    assert_eq!(anomaly["user_agent"], CHROME);
    assert!(anomaly["session_id"].is_string());
}

#[tokio::test]
async fn a_browser_update_is_not_an_anomaly() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", FIREFOX, None).await;
    let r = get_as(&server, "/auth/me", &token, FIREFOX_UPDATED, None).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let events = events_of(&server, &token, FIREFOX_UPDATED).await;
    assert!(
        events.iter().all(|e| e["type"] != "anomaly_detected"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_stolen_browser_cookie_is_refused_from_another_browser() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let (firefox, login) = browser_login(&server, "alice", FIREFOX).await;
    let cookie = login.session_cookie().expect("session cookie");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let stolen = Reply::from(
        agent(CHROME)
            .get(server.url("/auth/me"))
            .header("cookie", pair)
            .send()
            .await
            .unwrap(),
    )
    .await;
    stolen.error(401, "session_revoked");
    let me = Reply::from(firefox.get(server.url("/auth/me")).send().await.unwrap()).await;
    me.error(401, "session_revoked");
}

#[tokio::test]
async fn under_allow_another_agent_is_let_through() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_ON_USER_AGENT_CHANGE", "allow")]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, None).await;
    let r = get_as(&server, "/auth/me", &token, CHROME, None).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        get_as(&server, "/auth/me", &token, PHONE, None)
            .await
            .status,
        200
    );
    let events = events_of(&server, &token, PHONE).await;
    assert_eq!(count(&events, "anomaly_detected", "user_agent_changed"), 0);
}

#[tokio::test]
async fn under_log_another_agent_is_let_through_and_logged_once() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_ON_USER_AGENT_CHANGE", "log")]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, None).await;
    for _ in 0..3 {
        let r = get_as(&server, "/auth/me", &token, CHROME, None).await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let events = events_of(&server, &token, PHONE).await;
    assert_eq!(count(&events, "anomaly_detected", "user_agent_changed"), 1);
}

const PROXY: &[&str] = &["--trusted-proxies", "127.0.0.1/32"];

#[tokio::test]
async fn an_ip_change_is_logged_by_default() {
    let server = Server::start(PROXY);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, Some("203.0.113.7")).await;
    // The same /24: nothing to say.
    let same = get_as(&server, "/auth/me", &token, PHONE, Some("203.0.113.99")).await;
    assert_eq!(same.status, 200, "{}", same.raw);
    // Another network: allowed, logged once however often it is used.
    for _ in 0..3 {
        let r = get_as(&server, "/auth/me", &token, PHONE, Some("198.51.100.9")).await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let events = events_from(&server, &token, PHONE, Some("203.0.113.7")).await;
    assert_eq!(
        count(&events, "anomaly_detected", "ip_changed"),
        1,
        "{events:?}"
    );
    let anomaly = events.iter().find(|e| e["reason"] == "ip_changed").unwrap();
    assert_eq!(anomaly["ip"], "198.51.100.9");
}

#[tokio::test]
async fn an_ip_change_is_refused_under_revoke() {
    let server = Server::start_with_env(PROXY, &[("LATCHKEY_ON_IP_CHANGE", "revoke")]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, Some("203.0.113.7")).await;
    let same = get_as(&server, "/auth/me", &token, PHONE, Some("203.0.113.8")).await;
    assert_eq!(same.status, 200, "{}", same.raw);
    get_as(&server, "/auth/me", &token, PHONE, Some("198.51.100.9"))
        .await
        .error(401, "session_revoked");
    get_as(&server, "/auth/me", &token, PHONE, Some("203.0.113.7"))
        .await
        .error(401, "session_revoked");
    let fresh = app_login(&server, "alice", PHONE, Some("203.0.113.7")).await;
    let events = events_from(&server, &fresh, PHONE, Some("203.0.113.7")).await;
    assert_eq!(count(&events, "anomaly_detected", "ip_changed"), 1);
    assert_eq!(count(&events, "session_revoked", "anomaly"), 1);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // No trusted proxy: the socket peer (127.0.0.1) is the client, whatever
    // the headers say, so a header cannot trip, or dodge, the IP policy.
    let server = Server::start_with_env(&[], &[("LATCHKEY_ON_IP_CHANGE", "revoke")]);
    register(&server, "alice").await;
    let token = app_login(&server, "alice", PHONE, Some("203.0.113.7")).await;
    let r = get_as(&server, "/auth/me", &token, PHONE, Some("198.51.100.9")).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let sessions = get_as(&server, "/auth/sessions", &token, PHONE, Some("1.2.3.4")).await;
    assert_eq!(sessions.body[0]["ip"], "127.0.0.1", "{}", sessions.raw);
    assert_eq!(
        sessions.body[0]["login_ip"], "127.0.0.1",
        "{}",
        sessions.raw
    );
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_proxy_are_honoured() {
    let server = Server::start(PROXY);
    register(&server, "alice").await;
    // The right-most address that is not a trusted proxy is the client.
    let token = app_login(&server, "alice", PHONE, Some("6.6.6.6, 203.0.113.7")).await;
    let sessions = get_as(
        &server,
        "/auth/sessions",
        &token,
        PHONE,
        Some("203.0.113.8"),
    )
    .await;
    assert_eq!(
        sessions.body[0]["login_ip"], "203.0.113.7",
        "{}",
        sessions.raw
    );
    // Where it was last seen: the record is written as requests come in,
    // except in the short-token strategies, whose requests do not touch
    // the store (it moves at each refresh or renewal instead).
    let last = if short_tokens() {
        "203.0.113.7"
    } else {
        "203.0.113.8"
    };
    assert_eq!(sessions.body[0]["ip"], last, "{}", sessions.raw);
}

#[tokio::test]
async fn rfc7239_forwarded_is_honoured_when_configured() {
    let server = Server::start_with_env(PROXY, &[("LATCHKEY_FORWARDED_HEADER", "forwarded")]);
    register(&server, "alice").await;
    let r = Reply::from(
        agent(PHONE)
            .post(server.url("/auth/login"))
            .header("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")
            .header("x-forwarded-for", "6.6.6.6")
            .json(&json!({ "username": "alice", "password": PASSWORD, "client": "mobile" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let token = r.body["access_token"].as_str().unwrap();
    let sessions = get_as(&server, "/auth/sessions", token, PHONE, None).await;
    assert_eq!(
        sessions.body[0]["login_ip"], "2001:db8:cafe::17",
        "{}",
        sessions.raw
    );
}

#[tokio::test]
async fn a_lost_phone_is_listed_and_ended_from_the_web_at_once() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let phone = app_login(&server, "alice", PHONE, None).await;
    assert_eq!(
        get_as(&server, "/auth/me", &phone, PHONE, None)
            .await
            .status,
        200
    );

    let (web, login) = browser_login(&server, "alice", FIREFOX).await;
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();

    let list = Reply::from(web.get(server.url("/auth/sessions")).send().await.unwrap()).await;
    assert_eq!(list.status, 200, "{}", list.raw);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.raw);
    let this = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(this["device"], "Firefox on Linux");
    assert_eq!(this["ip"], "127.0.0.1");
    assert_eq!(this["user_agent"], FIREFOX);
    let lost = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(lost["device"], "latchkey-demo/1.2 on iOS");
    for field in ["id", "created_at", "last_seen_at", "ip", "user_agent"] {
        assert!(lost.get(field).is_some(), "{field} in {lost}");
    }

    let id = lost["id"].as_str().unwrap();
    let ended = Reply::from(
        web.request(Method::DELETE, server.url(&format!("/auth/sessions/{id}")))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ended.status, 204, "{}", ended.raw);
    // At once, on this node, in every strategy.
    get_as(&server, "/auth/me", &phone, PHONE, None)
        .await
        .error(401, "session_revoked");

    let events = Reply::from(web.get(server.url("/auth/events")).send().await.unwrap()).await;
    let events = events.body["events"].as_array().unwrap().clone();
    let revoked = events
        .iter()
        .find(|e| e["type"] == "session_revoked")
        .expect("session_revoked event");
    assert_eq!(revoked["reason"], "user");
    assert_eq!(revoked["session_id"], id);
    assert_eq!(revoked["device"], "Firefox on Linux", "who ended it");
}

#[tokio::test]
async fn hostile_agents_and_forwarded_headers_never_fail_the_server() {
    // Under `allow`, so every hostile request reaches the whole path (the
    // binding check, last-seen writes, events) instead of stopping at a
    // revoked session.
    let server = Server::start_with_env(
        PROXY,
        &[
            ("LATCHKEY_ON_USER_AGENT_CHANGE", "allow"),
            ("LATCHKEY_ON_IP_CHANGE", "allow"),
        ],
    );
    register(&server, "alice").await;
    let long_agent = format!("Evil/1.0 {}", "A".repeat(8000));
    let token = app_login(&server, "alice", &long_agent, None).await;
    let sessions = get_as(&server, "/auth/sessions", &token, &long_agent, None).await;
    assert_eq!(sessions.status, 200, "{}", sessions.raw);
    let kept = sessions.body[0]["user_agent"].as_str().unwrap();
    assert!(kept.len() <= 512 && long_agent.starts_with(kept), "{kept}");

    let hops = vec!["300.1.1.1"; 2000].join(", ");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("user-agent", b"Agent\xff\xfe\x80/1.0".to_vec()),
        ("user-agent", Vec::new()),
        ("x-forwarded-for", hops.clone().into_bytes()),
        ("x-forwarded-for", b"\xff\xfe, ::::, [::1]:80".to_vec()),
        ("forwarded", b"for=\"[::1\";;;==,,for=unknown".to_vec()),
        ("x-forwarded-proto", b"\xffhttps".to_vec()),
    ];
    for (name, value) in cases {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        for path in ["/auth/login", "/auth/me"] {
            let req = if path == "/auth/login" {
                http()
                    .post(server.url(path))
                    .json(&json!({ "username": "alice", "password": PASSWORD, "client": "mobile" }))
            } else {
                http().get(server.url(path)).bearer_auth(&token)
            };
            let r = Reply::from(req.header(name, value.clone()).send().await.unwrap()).await;
            assert_eq!(r.status, 200, "{name} on {path}: {}", r.raw);
        }
    }
    // An odd agent still gets a session of its own, bound to that agent.
    let odd = Reply::from(
        http()
            .post(server.url("/auth/login"))
            .header(
                "user-agent",
                reqwest::header::HeaderValue::from_bytes(b"Agent\xff/1.0").unwrap(),
            )
            .json(&json!({ "username": "alice", "password": PASSWORD, "client": "mobile" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(odd.status, 200, "{}", odd.raw);
    let odd_token = odd.body["access_token"].as_str().unwrap();
    let me = Reply::from(
        http()
            .get(server.url("/auth/sessions"))
            .bearer_auth(odd_token)
            .header(
                "user-agent",
                reqwest::header::HeaderValue::from_bytes(b"Agent\xff/1.0").unwrap(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.raw);
    assert!(
        me.raw.contains("Agent\u{fffd}/1.0"),
        "stored as text: {}",
        me.raw
    );
}
