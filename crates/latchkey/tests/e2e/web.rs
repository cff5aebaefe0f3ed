//! The browser flow: HttpOnly cookie + CSRF token.

use reqwest::header::COOKIE;
use serde_json::json;

use crate::support::*;

fn session_cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1.to_owned()
}

#[tokio::test]
async fn register_trims_and_refuses_case_variants() {
    let server = Server::start(&[]);
    let r = register(&server, "  Alice ").await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["username"], "Alice");
    assert!(r.body["id"].as_str().unwrap().len() == 36);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    register(&server, "alice").await.error(409, "conflict");
    register(&server, "ALICE").await.error(409, "conflict");
}

#[tokio::test]
async fn login_sets_an_httponly_cookie_and_returns_only_the_csrf_token() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let r = post_json(
        &server,
        "/auth/login",
        json!({"username": "ALICE", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let cookies = r.set_cookies();
    let expected = if strategy() == "access-refresh" { 2 } else { 1 };
    assert_eq!(cookies.len(), expected, "{cookies:?}");
    let c = &r.session_cookie().expect("session cookie");
    assert!(c.starts_with("latchkey_session="), "{c}");
    if let Some(refresh) = r.refresh_cookie() {
        for attr in [
            "HttpOnly",
            "Path=/auth/refresh",
            "SameSite=Strict",
            "Max-Age=",
        ] {
            assert!(refresh.contains(attr), "{refresh} lacks {attr}");
        }
        assert!(!r.raw.contains(session_cookie_value(&refresh).as_str()));
    }
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(c.contains(attr), "{c} lacks {attr}");
    }
    assert!(!c.contains("Secure"), "plain HTTP must not get Secure: {c}");
    let token = session_cookie_value(c);
    if strategy() == "session" {
        assert_eq!(token.len(), 43);
    } else {
        assert_eq!(token.split('.').count(), 3, "a compact JWS");
    }
    assert!(!r.raw.contains(&token), "credential leaked into the body");
    assert_eq!(r.body["username"], "alice");
    assert!(r.body["csrf_token"].as_str().unwrap().len() >= 32);
    assert!(r.body.get("access_token").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn cookie_authenticates_me_and_session() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    let me = user.get(&server, "/auth/me").await;
    assert_eq!(me.status, 200, "{}", me.raw);
    assert_eq!(
        me.body,
        json!({"user_id": user.user_id, "username": "alice", "session_id": user.session_id})
    );
    let s = user.get(&server, "/auth/session").await;
    assert_eq!(s.status, 200, "{}", s.raw);
    assert_eq!(s.body["csrf_token"], user.csrf.as_str());
    assert_eq!(s.body["id"], user.session_id.as_str());
    assert_eq!(s.body["client"], "web");
    assert_eq!(s.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn logout_revokes_and_clears_the_cookie() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let r = post_json(
        &server,
        "/auth/login",
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    let cookie = r
        .session_cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    let out = Reply::from(
        http()
            .post(server.url("/auth/logout"))
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.raw);
    let cleared = out.session_cookie().expect("cleared cookie");
    let cleared = cleared.as_str();
    assert!(
        cleared.starts_with("latchkey_session=;") || cleared.starts_with("latchkey_session=\"\""),
        "{cleared}"
    );
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/"),
        "{cleared}"
    );
    // The old cookie, replayed, is refused as revoked.
    let again = Reply::from(
        http()
            .get(server.url("/auth/me"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    again.error(401, "session_revoked");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let attempt = |username: &'static str, password: &'static str| {
        let url = server.url("/auth/login");
        async move {
            Reply::from(
                http()
                    .post(url)
                    .json(&json!({"username": username, "password": password}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let wrong = attempt("alice", "not the password").await;
    let unknown = attempt("mallory", "not the password").await;
    let short = attempt("alice", "x").await;
    wrong.error(401, "unauthenticated");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, short.body);
    assert!(wrong.set_cookies().is_empty());
}

#[tokio::test]
async fn every_login_mints_a_new_session_and_never_adopts_a_planted_one() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let planted = "A".repeat(43);
    let login = || async {
        Reply::from(
            http()
                .post(server.url("/auth/login"))
                .header(COOKIE, format!("latchkey_session={planted}"))
                .json(&json!({"username": "alice", "password": PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let a = login().await;
    let b = login().await;
    let (ca, cb) = (
        session_cookie_value(&a.session_cookie().unwrap()),
        session_cookie_value(&b.session_cookie().unwrap()),
    );
    assert_ne!(ca, planted);
    assert_ne!(ca, cb);
    assert_ne!(a.body["session_id"], b.body["session_id"]);
    assert_ne!(a.body["csrf_token"], b.body["csrf_token"]);
}

#[tokio::test]
async fn cookie_secure_always_uses_the_host_prefix() {
    let server = Server::start(&["--cookie-secure", "always"]);
    register(&server, "alice").await;
    let r = post_json(
        &server,
        "/auth/login",
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    let c = &r.session_cookie().expect("session cookie");
    assert!(c.starts_with("__Host-latchkey_session="), "{c}");
    if let Some(refresh) = r.refresh_cookie() {
        assert!(
            refresh.starts_with("__Secure-latchkey_refresh=") && refresh.contains("Secure"),
            "{refresh}"
        );
    }
    assert!(
        c.contains("Secure") && c.contains("Path=/") && !c.contains("Domain"),
        "{c}"
    );
    let token = session_cookie_value(c);
    let me = |cookie: String| {
        let url = server.url("/auth/me");
        async move { Reply::from(http().get(url).header(COOKIE, cookie).send().await.unwrap()).await }
    };
    assert_eq!(
        me(format!("__Host-latchkey_session={token}")).await.status,
        200
    );
    // The unprefixed name is not accepted where the prefixed one is expected.
    me(format!("latchkey_session={token}"))
        .await
        .error(401, "unauthenticated");
}

#[tokio::test]
async fn tls_is_believed_only_from_trusted_proxies() {
    let trusted = Server::start(&["--trusted-proxies", "127.0.0.0/8"]);
    let untrusted = Server::start(&["--trusted-proxies", "10.0.0.0/8"]);
    for (server, secure) in [(&trusted, true), (&untrusted, false)] {
        register(server, "alice").await;
        let r = Reply::from(
            http()
                .post(server.url("/auth/login"))
                .header("x-forwarded-proto", "https")
                .json(&json!({"username": "alice", "password": PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let c = &r.session_cookie().expect("session cookie");
        assert_eq!(c.starts_with("__Host-"), secure, "{c}");
        assert_eq!(c.contains("Secure"), secure, "{c}");
    }
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let mut server = Server::start(&[]);
    register(&server, "alice").await;
    let token = mobile_login(&server, "alice").await;
    let revoked = mobile_login(&server, "alice").await;
    send_bearer(&server, reqwest::Method::POST, "/auth/logout", &revoked).await;
    server.restart();
    let me = get_bearer(&server, "/auth/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.raw);
    get_bearer(&server, "/auth/me", &revoked)
        .await
        .error(401, "session_revoked");
    mobile_login(&server, "alice").await;
}
