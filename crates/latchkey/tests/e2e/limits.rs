//! Secrets at rest, timeouts and the bounds on password hashing.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_database_never_holds_a_credential() {
    // Reads the SQLite files; the PostgreSQL store writes the same rows
    // through the same SQL.
    if backend() != "sqlite" {
        return;
    }
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let token = mobile_login(&server, "alice").await;
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
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(server.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("latchkey.db")
        {
            files.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(!files.is_empty());
    let contains = |needle: &[u8]| {
        files
            .iter()
            .any(|f| f.windows(needle.len()).any(|w| w == needle))
    };
    // The user agent is stored (so the check can see the files at all)...
    assert!(contains(b"reqwest") || contains(b"alice"));
    // ...but no credential and no password is.
    for secret in [token.as_bytes(), cookie.as_bytes(), PASSWORD.as_bytes()] {
        assert!(!contains(secret), "a secret was written to the database");
    }
    // And the stored password is an Argon2id PHC string at OWASP's parameters.
    assert!(contains(b"$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn sessions_record_the_client_address_and_user_agent() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let r = Reply::from(
        http()
            .post(server.url("/auth/login"))
            .header("user-agent", "latchkey-test/1.0 (Android 15)")
            .json(&json!({"username": "alice", "password": PASSWORD, "client": "mobile"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = r.body["access_token"].as_str().unwrap();
    // From the same app: the session is bound to its user agent.
    let list = Reply::from(
        http()
            .get(server.url("/auth/sessions"))
            .bearer_auth(token)
            .header("user-agent", "latchkey-test/1.0 (Android 15)")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.body[0]["user_agent"], "latchkey-test/1.0 (Android 15)");
    assert_eq!(list.body[0]["device"], "latchkey-test/1.0 on Android");
    assert_eq!(list.body[0]["ip"], "127.0.0.1");
    assert_eq!(list.body[0]["client"], "mobile");
}

#[test]
fn a_request_that_takes_too_long_is_a_503() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_REQUEST_TIMEOUT", "1s")]);
    let addr = server.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Promise a body and never send it.
    conn.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains(r#""error":"unavailable""#), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_login_burst_beyond_the_hash_bound_is_refused_fast() {
    // One hash at a time and no queue: concurrent logins must be turned away
    // with 503, even for users that do not exist (their dummy hash counts,
    // which is what makes them cost the same as real ones).
    let server = Server::start_with_env(
        &[],
        &[
            ("LATCHKEY_PASSWORD_HASH_CONCURRENCY", "1"),
            ("LATCHKEY_PASSWORD_HASH_QUEUE", "0"),
        ],
    );
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = server.url("/auth/login");
        attempts.spawn(async move {
            Reply::from(
                http()
                    .post(url)
                    .json(&json!({"username": format!("nobody{i}"), "password": "wrong password"}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        });
    }
    let replies = attempts.join_all().await;
    let busy: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(!busy.is_empty(), "no login was refused");
    for r in &busy {
        r.error(503, "unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    for r in replies.iter().filter(|r| r.status != 503) {
        r.error(401, "unauthenticated");
    }
}
