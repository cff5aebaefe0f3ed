//! `access-refresh` rotation and `auto-refresh` renewal, with their theft
//! detection. These tests pick their own strategy and short lifetimes.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use crate::support::*;

fn once() -> bool {
    std::env::var_os("LATCHKEY_E2E_STRATEGY").is_none()
}

/// Short tokens (1 s, which JWT's whole seconds make up to 2 s), a
/// sub-second leeway and a 1 s grace, so expiry and theft show in seconds.
fn short_lived(strategy: &str) -> Server {
    Server::start_with_env(
        &["--strategy", strategy, "--access-ttl", "1s"],
        &[
            ("LATCHKEY_CLOCK_LEEWAY", "1ms"),
            ("LATCHKEY_REFRESH_GRACE", "1s"),
        ],
    )
}

/// Long enough for a token of `short_lived` to have expired.
const PAST_EXPIRY: Duration = Duration::from_millis(2100);
/// Long enough for the grace period of `short_lived` to have passed.
const PAST_GRACE: Duration = Duration::from_millis(1200);

async fn mobile_pair(server: &Server, username: &str) -> (String, String) {
    register(server, username).await;
    let r = post_json(
        server,
        "/auth/login",
        json!({"username": username, "password": PASSWORD, "client": "mobile"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    )
}

async fn refresh(server: &Server, token: &str) -> Reply {
    post_json(server, "/auth/refresh", json!({ "refresh_token": token })).await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_after_grace_revokes_the_session() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    let (access, first) = mobile_pair(&server, "alice").await;
    assert_eq!(get_bearer(&server, "/auth/me", &access).await.status, 200);

    let r = refresh(&server, &first).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let second = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(get_bearer(&server, "/auth/me", &access2).await.status, 200);

    // Within the grace period the spent token gets the same successor.
    let again = refresh(&server, &first).await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert_eq!(again.body["refresh_token"], second.as_str());

    // The access token expires; the refresh token gets a new one.
    tokio::time::sleep(PAST_EXPIRY).await;
    get_bearer(&server, "/auth/me", &access2)
        .await
        .error(401, "unauthenticated");
    let r = refresh(&server, &second).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let third = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access3 = r.body["access_token"].as_str().unwrap().to_owned();

    // After the grace period, the spent first token is theft: the whole
    // session ends, for every credential of it.
    let stolen = refresh(&server, &first).await;
    stolen.error(401, "session_revoked");
    get_bearer(&server, "/auth/me", &access3)
        .await
        .error(401, "session_revoked");
    refresh(&server, &third).await.error(401, "session_revoked");
    // A fresh login still works, and its owner can see what happened.
    let fresh = mobile_login(&server, "alice").await;
    assert_theft_logged(&server, &fresh).await;
}

/// The owner's log shows the reuse and the revocation it caused.
async fn assert_theft_logged(server: &Server, token: &str) {
    let events = get_bearer(server, "/auth/events", token).await;
    assert_eq!(events.status, 200, "{}", events.raw);
    let list = events.body["events"].as_array().expect("events");
    let has = |kind: &str, reason: Option<&str>| {
        list.iter()
            .any(|e| e["type"] == kind && reason.is_none_or(|r| e["reason"] == r))
    };
    assert!(has("refresh_reuse_detected", None), "{}", events.raw);
    assert!(
        has("session_revoked", Some("theft_detection")),
        "{}",
        events.raw
    );
}

#[tokio::test]
async fn twenty_parallel_refreshes_share_one_successor() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    let (_, token) = mobile_pair(&server, "alice").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = server.url("/auth/refresh");
        let token = token.clone();
        set.spawn(async move {
            Reply::from(
                http()
                    .post(url)
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        });
    }
    let replies = set.join_all().await;
    let mut successors = HashSet::new();
    for r in &replies {
        assert!(r.status.as_u16() < 500, "{}", r.raw);
        assert_eq!(r.status, 200, "{}", r.raw);
        successors.insert(r.body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        successors.len(),
        1,
        "one rotation, not {}",
        successors.len()
    );
    let access = replies[0].body["access_token"].as_str().unwrap();
    let list = get_bearer(&server, "/auth/sessions", access).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1, "{}", list.raw);
    let next = successors.into_iter().next().unwrap();
    assert_eq!(refresh(&server, &next).await.status, 200);
}

#[tokio::test]
async fn browsers_refresh_with_the_scoped_cookie_and_the_csrf_header() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    let call = |csrf: Option<String>| {
        let mut req = user.client.post(server.url("/auth/refresh"));
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        async move { Reply::from(req.send().await.unwrap()).await }
    };
    call(None).await.error(403, "csrf_failed");
    call(Some("wrong".into())).await.error(403, "csrf_failed");
    tokio::time::sleep(PAST_EXPIRY).await;
    // The access cookie has expired (Max-Age = access TTL): the browser no
    // longer sends it.
    let me = user.get(&server, "/auth/me").await;
    me.error(401, "unauthenticated");
    let r = call(Some(user.csrf.clone())).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["csrf_token"], user.csrf.as_str());
    assert!(r.body.get("refresh_token").is_none() && r.body.get("access_token").is_none());
    assert!(r.session_cookie().is_some() && r.refresh_cookie().is_some());
    let me = user.get(&server, "/auth/me").await;
    assert_eq!(me.status, 200, "{}", me.raw);
    // Logging out clears both cookies.
    let out = user
        .send(&server, reqwest::Method::POST, "/auth/logout")
        .await;
    assert_eq!(out.status, 204);
    assert!(out.session_cookie().unwrap().contains("Max-Age=0"));
    assert!(out.refresh_cookie().unwrap().contains("Max-Age=0"));
    call(Some(user.csrf.clone()))
        .await
        .error(401, "unauthenticated");
}

/// A page reloaded after its access cookie expired has no CSRF token in
/// memory and `/auth/session` cannot give it one; `GET /auth/refresh`,
/// with the refresh cookie alone, does, without spending anything.
#[tokio::test]
async fn a_reloaded_page_learns_its_csrf_token_from_the_refresh_path() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    tokio::time::sleep(PAST_EXPIRY).await;
    user.get(&server, "/auth/session")
        .await
        .error(401, "unauthenticated");
    let got = user.get(&server, "/auth/refresh").await;
    assert_eq!(got.status, 200, "{}", got.raw);
    assert_eq!(got.body["csrf_token"], user.csrf.as_str());
    assert!(got.set_cookies().is_empty(), "nothing is spent or set");
    // Asking again is harmless; then the refresh it enables works.
    assert_eq!(user.get(&server, "/auth/refresh").await.status, 200);
    let csrf = got.body["csrf_token"].as_str().unwrap().to_owned();
    let r = Reply::from(
        user.client
            .post(server.url("/auth/refresh"))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    // Another site's page may not ask, and without the cookie nobody can.
    let cross = Reply::from(
        user.client
            .get(server.url("/auth/refresh"))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap(),
    )
    .await;
    cross.error(403, "csrf_failed");
    let bare = Reply::from(
        http()
            .get(server.url("/auth/refresh"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    bare.error(401, "unauthenticated");
    // Other strategies have no refresh at all.
    let session = Server::start(&["--strategy", "session"]);
    let none = Reply::from(
        http()
            .get(session.url("/auth/refresh"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    none.error(404, "not_found");
}

#[tokio::test]
async fn garbage_refresh_tokens_are_refused_without_a_5xx() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    let (access, _) = mobile_pair(&server, "alice").await;
    let forged = "A".repeat(43);
    for bad in ["", "x", forged.as_str(), access.as_str()] {
        refresh(&server, bad).await.error(401, "unauthenticated");
    }
    for body in ["{}", "[]", "{\"refresh_token\": 5}", "not json"] {
        let r = Reply::from(
            http()
                .post(server.url("/auth/refresh"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.error(400, "invalid_request");
    }
}

#[tokio::test]
async fn auto_refresh_renews_an_expired_token_once_and_detects_replay() {
    if !once() {
        return;
    }
    let server = short_lived("auto-refresh");
    let token = user_with_token(&server, "alice").await;
    let live = get_bearer(&server, "/auth/me", &token).await;
    assert_eq!(live.status, 200);
    assert!(live.header("x-refreshed-token").is_none());
    tokio::time::sleep(PAST_EXPIRY).await;

    let renewed = get_bearer(&server, "/auth/me", &token).await;
    assert_eq!(renewed.status, 200, "{}", renewed.raw);
    let fresh = renewed
        .header("x-refreshed-token")
        .expect("X-Refreshed-Token")
        .to_owned();
    assert_ne!(fresh, token);
    // Within the grace period the same expired token gets the same renewal.
    let again = get_bearer(&server, "/auth/me", &token).await;
    assert_eq!(again.header("x-refreshed-token"), Some(fresh.as_str()));
    let with_fresh = get_bearer(&server, "/auth/me", &fresh).await;
    assert_eq!(with_fresh.status, 200);
    assert!(with_fresh.header("x-refreshed-token").is_none());

    // After the grace period, the old generation is a replay: session ends.
    tokio::time::sleep(PAST_GRACE).await;
    get_bearer(&server, "/auth/me", &token)
        .await
        .error(401, "session_revoked");
    get_bearer(&server, "/auth/me", &fresh)
        .await
        .error(401, "session_revoked");
    let again = mobile_login(&server, "alice").await;
    assert_theft_logged(&server, &again).await;
}

#[tokio::test]
async fn twenty_parallel_requests_with_one_expired_token_share_one_renewal() {
    if !once() {
        return;
    }
    let server = short_lived("auto-refresh");
    let token = user_with_token(&server, "alice").await;
    tokio::time::sleep(PAST_EXPIRY).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = server.url("/auth/sessions");
        let token = token.clone();
        set.spawn(async move {
            Reply::from(http().get(url).bearer_auth(token).send().await.unwrap()).await
        });
    }
    let replies = set.join_all().await;
    let mut renewed = HashSet::new();
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.raw);
        renewed.insert(r.header("x-refreshed-token").expect("renewed").to_owned());
        assert_eq!(r.body.as_array().unwrap().len(), 1, "one live session");
    }
    assert_eq!(renewed.len(), 1, "one renewal, not {}", renewed.len());
}

#[tokio::test]
async fn auto_refresh_renews_browser_cookies_and_refuses_revoked_sessions() {
    if !once() {
        return;
    }
    let server = short_lived("auto-refresh");
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    tokio::time::sleep(PAST_EXPIRY).await;
    let r = user.get(&server, "/auth/me").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let cookie = r.session_cookie().expect("renewed cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(r.header("x-refreshed-token").is_none());
    // The jar now holds the new token; the next request is plain.
    let next = user.get(&server, "/auth/me").await;
    assert_eq!(next.status, 200);
    assert!(next.session_cookie().is_none());

    // A revoked session's expired token is not renewed.
    let phone = mobile_login(&server, "alice").await;
    let out = user
        .send(&server, reqwest::Method::POST, "/auth/logout-all")
        .await;
    assert_eq!(out.status, 204, "{}", out.raw);
    tokio::time::sleep(PAST_EXPIRY).await;
    let r = get_bearer(&server, "/auth/me", &phone).await;
    r.error(401, "session_revoked");
    assert!(r.header("x-refreshed-token").is_none());
}

#[tokio::test]
async fn a_forged_request_cannot_trigger_a_renewal_and_logout_has_the_last_word() {
    if !once() {
        return;
    }
    let server = short_lived("auto-refresh");
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    tokio::time::sleep(PAST_EXPIRY).await;
    // No CSRF token: refused, and nothing renewed.
    let forged = Reply::from(
        user.client
            .post(server.url("/auth/logout"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    forged.error(403, "csrf_failed");
    assert!(
        forged.session_cookie().is_none(),
        "{:?}",
        forged.set_cookies()
    );
    // The real logout with the expired cookie: renewed to authenticate,
    // but the response only clears the cookie.
    let out = user
        .send(&server, reqwest::Method::POST, "/auth/logout")
        .await;
    assert_eq!(out.status, 204, "{}", out.raw);
    let cookies = out.set_cookies();
    let sessions: Vec<&String> = cookies
        .iter()
        .filter(|c| c.starts_with("latchkey_session="))
        .collect();
    assert_eq!(sessions.len(), 1, "{cookies:?}");
    assert!(sessions[0].contains("Max-Age=0"), "{cookies:?}");
}

#[tokio::test]
async fn a_spent_refresh_token_within_grace_does_not_outlive_a_logout() {
    if !once() {
        return;
    }
    let server = short_lived("access-refresh");
    let (_, first) = mobile_pair(&server, "alice").await;
    let r = refresh(&server, &first).await;
    assert_eq!(r.status, 200);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        send_bearer(&server, reqwest::Method::POST, "/auth/logout", &access)
            .await
            .status,
        204
    );
    refresh(&server, &first).await.error(401, "session_revoked");
}

#[tokio::test]
async fn a_refresh_token_replayed_from_another_client_ends_the_session() {
    if !once() {
        return;
    }
    use crate::devices::{CHROME, PHONE, agent};
    let server = short_lived("access-refresh");
    register(&server, "alice").await;
    let login = Reply::from(
        agent(PHONE)
            .post(server.url("/auth/login"))
            .json(&json!({"username": "alice", "password": PASSWORD, "client": "mobile"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let refresh_from = |ua: &'static str| {
        let url = server.url("/auth/refresh");
        let token = token.clone();
        async move {
            Reply::from(
                agent(ua)
                    .post(url)
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    refresh_from(CHROME).await.error(401, "session_revoked");
    refresh_from(PHONE).await.error(401, "session_revoked");
}
