//! Liveness, readiness and metrics.

use reqwest::Method;

use crate::support::*;

#[tokio::test]
async fn health_and_readiness() {
    let server = Server::start(&[]);
    let h = Reply::from(http().get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    // With PostgreSQL the revocation feed connects just after start; until
    // then the node is "degraded" (still 200: it serves, checking the store).
    let started = std::time::Instant::now();
    loop {
        let r = Reply::from(http().get(server.url("/readyz")).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        if r.body["status"] == "ready" {
            break;
        }
        assert_eq!(r.body["status"], "degraded", "{}", r.raw);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{}",
            r.raw
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(h.header("x-request-id").is_some_and(|id| id.len() == 36));
}

#[tokio::test]
async fn metrics_count_requests_logins_and_revocations() {
    let server = Server::start(&[]);
    let token = user_with_token(&server, "dave").await;
    let _ = Reply::from(
        http()
            .post(server.url("/auth/login"))
            .json(&serde_json::json!({"username": "dave", "password": "wrong password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    get_bearer(&server, "/auth/me", &token).await;
    let id = get_bearer(&server, "/auth/me", &token).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = mobile_login(&server, "dave").await;
    send_bearer(
        &server,
        Method::DELETE,
        &format!("/auth/sessions/{id}"),
        &other,
    )
    .await;
    send_bearer(&server, Method::POST, "/auth/logout", &other).await;
    let r = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    for needle in [
        r#"latchkey_http_requests_total{method="GET",route="/auth/me",status="200"} 2"#,
        r#"route="/auth/sessions/{id}""#,
        r#"latchkey_logins_total{client="mobile",result="success"} 2"#,
        r#"latchkey_logins_total{client="web",result="invalid_credentials"} 1"#,
        r#"latchkey_revocations_total{reason="user"} 1"#,
        r#"latchkey_revocations_total{reason="logout"} 1"#,
        "latchkey_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut server = Server::start(&[]);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(server.log().contains("shut down"), "{}", server.log());
}

#[tokio::test]
async fn invented_methods_do_not_become_metric_labels() {
    let server = Server::start(&[]);
    let method = reqwest::Method::from_bytes(b"XYZZY1").unwrap();
    let r = Reply::from(
        http()
            .request(method, server.url("/auth/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.status.as_u16() < 500);
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("XYZZY1"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
}
