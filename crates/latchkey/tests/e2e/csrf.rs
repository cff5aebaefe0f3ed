//! CSRF: unsafe cookie requests need the token and a same-site origin.

use serde_json::json;

use crate::support::*;

async fn logout_with(server: &Server, user: &WebUser, headers: &[(&str, &str)]) -> Reply {
    let mut req = user.client.post(server.url("/auth/logout"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Reply::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn unsafe_cookie_requests_need_the_token() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    logout_with(&server, &user, &[])
        .await
        .error(403, "csrf_failed");
    logout_with(&server, &user, &[("x-csrf-token", "wrong")])
        .await
        .error(403, "csrf_failed");
    let other = web_login(&server, "alice").await;
    logout_with(&server, &user, &[("x-csrf-token", &other.csrf)])
        .await
        .error(403, "csrf_failed");
    // Refused requests changed nothing.
    assert_eq!(
        user.client
            .get(server.url("/auth/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ok = logout_with(&server, &user, &[("x-csrf-token", &user.csrf)]).await;
    assert_eq!(ok.status, 204, "{}", ok.raw);
}

#[tokio::test]
async fn cross_site_requests_are_refused_even_with_the_token() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let csrf = user.csrf.clone();
    for headers in [
        vec![
            ("x-csrf-token", csrf.as_str()),
            ("origin", "http://evil.example"),
        ],
        vec![("x-csrf-token", csrf.as_str()), ("origin", "null")],
        vec![
            ("x-csrf-token", csrf.as_str()),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        logout_with(&server, &user, &headers)
            .await
            .error(403, "csrf_failed");
    }
    let origin = format!("http://{host}");
    let ok = logout_with(
        &server,
        &user,
        &[
            ("x-csrf-token", &csrf),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(ok.status, 204, "{}", ok.raw);
}

#[tokio::test]
async fn safe_methods_need_no_token() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    for path in [
        "/auth/me",
        "/auth/session",
        "/auth/sessions",
        "/auth/verify",
    ] {
        let r = user.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn login_from_another_site_is_refused() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let r = Reply::from(
        http()
            .post(server.url("/auth/login"))
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.error(403, "csrf_failed");
    assert!(r.set_cookies().is_empty());
}
