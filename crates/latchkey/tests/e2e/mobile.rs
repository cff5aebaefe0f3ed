//! The app flow: bearer tokens, no CSRF.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn mobile_login_returns_a_bearer_token_and_no_cookie() {
    let server = Server::start(&["--session-ttl", "2h"]);
    register(&server, "bob").await;
    let r = post_json(
        &server,
        "/auth/login",
        json!({"username": "bob", "password": PASSWORD, "client": "mobile"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.body["token_type"], "Bearer");
    let expires_in = r.body["expires_in"].as_i64().unwrap();
    // The session's life, or in the short-token strategies the access token's.
    let expected = if short_tokens() {
        290..=300
    } else {
        7190..=7200
    };
    assert!(expected.contains(&expires_in), "{expires_in}");
    assert_eq!(
        r.body.get("refresh_token").is_some(),
        strategy() == "access-refresh",
        "{}",
        r.raw
    );
    assert!(r.body.get("csrf_token").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.body["access_token"].as_str().unwrap();
    let me = get_bearer(&server, "/auth/me", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "bob");
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_token() {
    let server = Server::start(&[]);
    let token = user_with_token(&server, "bob").await;
    let s = get_bearer(&server, "/auth/session", &token).await;
    assert_eq!(s.body["client"], "mobile");
    assert!(s.body.get("csrf_token").is_none(), "{}", s.raw);
    // Even with a foreign Origin: a bearer header is never sent by a browser on its own.
    let out = Reply::from(
        http()
            .post(server.url("/auth/logout"))
            .bearer_auth(&token)
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.raw);
    assert!(out.set_cookies().is_empty());
    get_bearer(&server, "/auth/me", &token)
        .await
        .error(401, "session_revoked");
}

#[tokio::test]
async fn bad_bearer_tokens_get_a_challenge() {
    let server = Server::start(&[]);
    let none = Reply::from(http().get(server.url("/auth/me")).send().await.unwrap()).await;
    none.error(401, "unauthenticated");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let forged = "A".repeat(43);
    for bad in ["garbage", forged.as_str(), ""] {
        let r = get_bearer(&server, "/auth/me", bad).await;
        r.error(401, "unauthenticated");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn the_contract_flow_works_for_both_clients_of_one_user() {
    let server = Server::start(&[]);
    register(&server, "bob").await;
    let phone = mobile_login(&server, "bob").await;
    let web = web_login(&server, "bob").await;
    let list = get_bearer(&server, "/auth/sessions", &phone).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let r = send_bearer(&server, Method::POST, "/auth/logout-all", &phone).await;
    assert_eq!(r.status, 204);
    let me = web.get(&server, "/auth/me").await;
    me.error(401, "session_revoked");
}
