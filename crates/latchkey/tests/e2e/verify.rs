//! Forward-auth for reverse proxies.

use reqwest::{Method, header::COOKIE};

use crate::support::*;

#[tokio::test]
async fn verify_answers_with_identity_headers_or_401() {
    let server = Server::start(&[]);
    let token = user_with_token(&server, "carol").await;
    let none = Reply::from(http().get(server.url("/auth/verify")).send().await.unwrap()).await;
    none.error(401, "unauthenticated");
    assert!(none.header("x-auth-user-id").is_none());

    let ok = get_bearer(&server, "/auth/verify", &token).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let me = get_bearer(&server, "/auth/me", &token).await;
    assert_eq!(ok.header("x-auth-user-id"), me.body["user_id"].as_str());
    assert_eq!(ok.header("x-auth-username"), Some("carol"));
    assert_eq!(
        ok.header("x-auth-session-id"),
        me.body["session_id"].as_str()
    );

    let head = http()
        .head(server.url("/auth/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-auth-username"], "carol");

    send_bearer(&server, Method::POST, "/auth/logout", &token).await;
    get_bearer(&server, "/auth/verify", &token)
        .await
        .error(401, "session_revoked");
}

#[tokio::test]
async fn verify_with_a_cookie_enforces_csrf_for_the_guarded_method() {
    let server = Server::start(&[]);
    register(&server, "carol").await;
    let user = web_login(&server, "carol").await;
    let verify = |method: &'static str, csrf: Option<String>| {
        let req = user
            .client
            .get(server.url("/auth/verify"))
            .header("x-forwarded-method", method);
        let req = match csrf {
            Some(t) => req.header("x-csrf-token", t),
            None => req,
        };
        async move { Reply::from(req.send().await.unwrap()).await }
    };
    assert_eq!(verify("GET", None).await.status, 200);
    verify("POST", None).await.error(403, "csrf_failed");
    let ok = verify("DELETE", Some(user.csrf.clone())).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(ok.header("x-auth-username"), Some("carol"));
}

#[tokio::test]
async fn verify_rejects_forged_cookies() {
    let server = Server::start(&[]);
    let r = Reply::from(
        http()
            .get(server.url("/auth/verify"))
            .header(COOKIE, format!("latchkey_session={}", "B".repeat(43)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.error(401, "unauthenticated");
}

#[tokio::test]
async fn a_client_cannot_lower_the_method_its_proxy_reports() {
    let server = Server::start(&[]);
    register(&server, "carol").await;
    let user = web_login(&server, "carol").await;
    for headers in [
        vec![("x-original-method", "POST"), ("x-forwarded-method", "GET")],
        vec![
            ("x-forwarded-method", "GET"),
            ("x-original-method", "DELETE"),
        ],
        vec![("x-forwarded-method", "NOT A METHOD")],
    ] {
        let mut req = user.client.get(server.url("/auth/verify"));
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.unwrap())
            .await
            .error(403, "csrf_failed");
    }
}
