//! Abuse resistance: credential stuffing, enumeration through status, body
//! or timing, slow clients, and the headers every response carries.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn ten_thousand_stuffed_logins_from_one_address_pass_at_the_configured_rate() {
    let server = Arc::new(Server::start(&["--trusted-proxies", "127.0.0.1/32"]));
    register(&server, "alice").await;
    let started = Instant::now();
    // 10 000 attempts from one address over as many usernames, 32 at a
    // time: the per-address limit (60 a minute, burst 60) is the only one
    // they can meet.
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let (mut let_through, mut limited) = (0u32, 0u32);
            for i in (worker..10_000).step_by(32) {
                let r =
                    login_from(&server, "203.0.113.9", &format!("user{i}"), "guess guess").await;
                match r.status.as_u16() {
                    401 => let_through += 1,
                    429 => {
                        r.error(429, "rate_limited");
                        assert!(r.header("retry-after").is_some(), "no Retry-After");
                        limited += 1;
                    }
                    other => panic!("attempt {i}: {other} {}", r.raw),
                }
            }
            (let_through, limited)
        }));
    }
    let (mut let_through, mut limited) = (0, 0);
    for task in tasks {
        let (a, b) = task.await.unwrap();
        let_through += a;
        limited += b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The burst, then one a second: never more than the rate allows.
    let allowed = 60.0 + elapsed + 1.0;
    assert!(
        f64::from(let_through) <= allowed,
        "{let_through} attempts got through in {elapsed:.1} s (at most {allowed:.0} allowed)"
    );
    assert!(
        let_through >= 60,
        "the burst itself was refused: {let_through}"
    );
    assert_eq!(let_through + limited, 10_000);
    // Meanwhile the real user, from their own address, gets in at once.
    let r = login_from(&server, "198.51.100.1", "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn a_locked_out_name_and_an_unknown_one_look_the_same() {
    // Attempts from ever new addresses: only the per-username limit bites.
    let server = Server::start_with_env(
        &["--trusted-proxies", "127.0.0.1/32"],
        &[("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER", "3/1m")],
    );
    register(&server, "alice").await;
    let mut seen = Vec::new();
    for (n, user) in ["alice", "nobody"].into_iter().enumerate() {
        let mut replies = Vec::new();
        for i in 0..5 {
            let ip = format!("192.0.2.{}", n * 10 + i + 1);
            let r = login_from(&server, &ip, user, "wrong password").await;
            let limited = r.header("retry-after").is_some();
            replies.push((r.status, r.raw, limited));
        }
        seen.push(replies);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0][2].0, 401);
    assert_eq!(seen[0][4].0, 429);
}

/// The fastest of a set of timings: noise (other tests, the machine) only
/// ever adds time, so the minimum is the steadiest estimate of the work.
fn fastest(v: &[Duration]) -> Duration {
    v.iter().copied().min().expect("timings")
}

#[tokio::test]
async fn unknown_names_take_as_long_as_wrong_passwords() {
    let server = Server::start_with_env(
        &[],
        &[
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "off"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP", "off"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_USER", "off"),
        ],
    );
    register(&server, "alice").await;
    // A password hash dominates both; without the dummy hash for unknown
    // names they would answer in a small fraction of the time (a store
    // read against an Argon2 hash: well under a tenth), in every round.
    // Hashing runs at the lowest priority, so on a machine busy with other
    // tests one round can be skewed: up to three rounds, one must agree.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        // Interleaved, so a change in the machine's load hits both alike.
        for _ in 0..15 {
            for (user, times) in [("alice", &mut known), ("nobody", &mut unknown)] {
                let started = Instant::now();
                let r = login_from(&server, "127.0.0.1", user, "wrong password").await;
                times.push(started.elapsed());
                r.error(401, "unauthenticated");
            }
        }
        let (known, unknown) = (fastest(&known), fastest(&unknown));
        let ratio = unknown.as_secs_f64() / known.as_secs_f64();
        if (1.0 / 3.0..3.0).contains(&ratio) {
            return;
        }
        rounds.push(format!(
            "unknown {unknown:?} against wrong password {known:?}"
        ));
    }
    panic!("timings differ in every round: {rounds:?}");
}

/// Every response, success or error, from a route or the framework.
#[tokio::test]
async fn every_response_carries_the_hygiene_headers() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let token = mobile_login(&server, "alice").await;
    let mut replies = vec![
        post_json(
            &server,
            "/auth/login",
            json!({"username": "alice", "password": PASSWORD, "client": "mobile"}),
        )
        .await,
        post_json(
            &server,
            "/auth/login",
            json!({"username": "alice", "password": "wrong password"}),
        )
        .await,
        get_bearer(&server, "/auth/me", &token).await,
        get_bearer(&server, "/auth/verify", &token).await,
        get_bearer(&server, "/auth/me", "nonsense").await,
        Reply::from(http().get(server.url("/healthz")).send().await.unwrap()).await,
        Reply::from(http().get(server.url("/nowhere")).send().await.unwrap()).await,
        Reply::from(
            http()
                .request(Method::DELETE, server.url("/healthz"))
                .send()
                .await
                .unwrap(),
        )
        .await,
        Reply::from(
            http()
                .get(server.url("/auth/me"))
                .header("x-big", "h".repeat(40 * 1024))
                .send()
                .await
                .unwrap(),
        )
        .await,
    ];
    replies.push(Reply::from(http().get(server.url("/metrics")).send().await.unwrap()).await);
    for r in &replies {
        let what = format!(
            "{} {}",
            r.status,
            r.raw.chars().take(80).collect::<String>()
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(
            r.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert!(r.header("x-request-id").is_some(), "{what}");
    }
}

/// A client that sends its headers a byte at a time is cut off once
/// `header_read_timeout` has passed, and holds nobody else up meanwhile.
#[tokio::test]
async fn a_slow_client_is_disconnected() {
    let server = Server::start_with_env(&[], &[("LATCHKEY_HEADER_READ_TIMEOUT", "1s")]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let slow = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let started = Instant::now();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        while started.elapsed() < Duration::from_secs(10) {
            // One more header byte every 100 ms, never finishing.
            if conn.write_all(b"X").is_err() {
                return (started.elapsed(), Vec::new());
            }
            match conn.read(&mut buf) {
                Ok(n) => return (started.elapsed(), buf[..n].to_vec()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return (started.elapsed(), Vec::new()),
            }
        }
        (started.elapsed(), b"still connected".to_vec())
    });
    // Others are served meanwhile.
    let r = Reply::from(http().get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    let (after, answer) = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(after >= Duration::from_millis(900), "{after:?}");
    assert!(after < Duration::from_secs(5), "{after:?}");
}

/// The log scan every server's drop runs ([`assert_no_secret_logged`]) can
/// fail: a remembered secret anywhere in a log is found.
#[test]
fn the_log_scan_finds_a_remembered_secret() {
    remember_secret("an-example-refresh-token-0123456789");
    let log = "INFO request\nDEBUG token an-example-refresh-token-0123456789 refused\n";
    let caught = std::panic::catch_unwind(|| assert_no_secret_logged(log, "this log"));
    let message = caught.expect_err("the secret was not found");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("DEBUG token"), "{message}");
    assert_no_secret_logged("INFO nothing to see\n", "a clean log");
}

/// Every crate of ours forbids `unsafe` in its root and takes the
/// workspace's lints (which forbid it in tests and benches too).
#[test]
fn every_crate_forbids_unsafe_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let workspace = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    assert!(
        workspace.contains("unsafe_code = \"forbid\""),
        "workspace lints"
    );
    let mut crates = 0;
    for entry in std::fs::read_dir(format!("{root}/crates")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{} does not take the workspace lints",
            dir.display()
        );
        for file in ["src/lib.rs", "src/main.rs"] {
            if let Ok(source) = std::fs::read_to_string(dir.join(file)) {
                assert!(
                    source.contains("#![forbid(unsafe_code)]"),
                    "{}/{file}",
                    dir.display()
                );
                crates += 1;
            }
        }
    }
    assert!(crates >= 6, "found only {crates} crate roots");
}

/// Sends raw bytes and reads the reply's head until the server closes or
/// 5 s pass.
fn raw_exchange(server: &Server, request: &[u8]) -> String {
    let addr = server.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(request).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.windows(4).any(|w| w == b"\r\n\r\n") && reply.len() > 200 {
            break;
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

/// Up to the HTTP parser's own limit (256 fields), too many header fields
/// get the contract's JSON; what is not HTTP at all gets the parser's bare
/// 400. Never a 5xx, never a hang.
#[tokio::test]
async fn malformed_http_is_refused_by_the_parser_and_too_many_headers_by_latchkey() {
    let server = Server::start(&[]);
    let mut many = b"GET /auth/me HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-Filler-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"Connection: close\r\n\r\n");
    let reply = raw_exchange(&server, &many);
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert!(reply.contains(r#""error":"invalid_request""#), "{reply}");
    for bad in [
        &b"GET /auth/me HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n"[..],
        b"GET /auth/me HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        let reply = raw_exchange(&server, bad);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
            "{reply}"
        );
    }
    // Still serving.
    let r = Reply::from(http().get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
}
