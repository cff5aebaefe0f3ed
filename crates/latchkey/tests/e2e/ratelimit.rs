//! Login, registration and refresh limits: guessing slows down, the real
//! user (from another address) still gets in, and 429 says nothing about
//! whether a username exists.

use crate::support::*;

#[track_caller]
fn limited(r: &Reply) {
    r.error(429, "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

#[tokio::test]
async fn guessing_is_throttled_without_locking_the_real_user_out() {
    let server = Server::start_with_env(
        &["--trusted-proxies", "127.0.0.1/32"],
        &[
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP", "3/1m"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER", "20/1m"),
        ],
    );
    register(&server, "alice").await;
    let attacker = "203.0.113.7";
    for _ in 0..3 {
        login_from(&server, attacker, "alice", "guess guess")
            .await
            .error(401, "unauthenticated");
    }
    limited(&login_from(&server, attacker, "alice", "guess guess").await);
    // Even the right password: a limited attempt is no oracle.
    limited(&login_from(&server, attacker, "alice", PASSWORD).await);
    // A name that does not exist is limited the same way.
    for _ in 0..3 {
        login_from(&server, attacker, "nobody", "guess guess")
            .await
            .error(401, "unauthenticated");
    }
    limited(&login_from(&server, attacker, "nobody", "guess guess").await);
    // The real user, from their own address, still gets in.
    let r = login_from(&server, "198.51.100.1", "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let metrics = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"latchkey_rate_limited_total{class="login_user_ip"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn credential_stuffing_from_one_address_is_throttled() {
    let server = Server::start_with_env(
        &["--trusted-proxies", "127.0.0.1/32"],
        &[("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "5/1m")],
    );
    register(&server, "alice").await;
    for i in 0..5 {
        let r = login_from(&server, "203.0.113.9", &format!("user{i}"), "guess guess").await;
        r.error(401, "unauthenticated");
    }
    limited(&login_from(&server, "203.0.113.9", "user9", "guess guess").await);
    let r = login_from(&server, "198.51.100.1", "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn registration_is_limited_per_address() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_RATE_LIMIT_REGISTER_PER_IP", "2/1m")]);
    assert_eq!(register(&server, "a1").await.status, 201);
    assert_eq!(register(&server, "a2").await.status, 201);
    limited(&register(&server, "a3").await);
}
