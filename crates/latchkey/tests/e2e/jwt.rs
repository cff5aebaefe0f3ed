//! What only the JWT strategies have: tokens anyone can verify with the
//! published keys, key rotation, and refusal of forged tokens.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

use crate::support::*;

/// Runs once, in the default run of the suite: these tests pick their own
/// strategy.
fn once() -> bool {
    std::env::var_os("LATCHKEY_E2E_STRATEGY").is_none()
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

/// Verifies `token` against the published `jwks` with an independent JWT
/// library (jwt-simple, pure Rust), checking issuer, audience and times the
/// way a third-party service would, and returns the claims.
fn verify_independently(token: &str, jwks: &Value) -> Value {
    use jwt_simple::prelude::{
        ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, EdDSAPublicKeyLike,
        VerificationOptions,
    };
    let header = decode(token.split('.').next().unwrap());
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let field = |name: &str| B64.decode(jwk[name].as_str().unwrap()).unwrap();
    let options = VerificationOptions {
        allowed_issuers: Some(["latchkey".to_owned()].into()),
        allowed_audiences: Some(["latchkey".to_owned()].into()),
        required_key_id: Some(kid.clone()),
        ..VerificationOptions::default()
    };
    let claims = match header["alg"].as_str().unwrap() {
        "EdDSA" => {
            assert_eq!(
                (&jwk["kty"], &jwk["crv"]),
                (&json!("OKP"), &json!("Ed25519"))
            );
            Ed25519PublicKey::from_bytes(&field("x"))
                .unwrap()
                .with_key_id(&kid)
                .verify_token::<Value>(token, Some(options))
        }
        "ES256" => {
            assert_eq!((&jwk["kty"], &jwk["crv"]), (&json!("EC"), &json!("P-256")));
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            ES256PublicKey::from_bytes(&point)
                .unwrap()
                .with_key_id(&kid)
                .verify_token::<Value>(token, Some(options))
        }
        other => panic!("unexpected alg {other}"),
    }
    .unwrap_or_else(|e| panic!("jwt-simple refused the token: {e}"));
    json!({ "sub": claims.subject, "custom": claims.custom })
}

async fn jwks(server: &Server) -> Reply {
    Reply::from(
        http()
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn published_keys_verify_issued_tokens() {
    if !once() {
        return;
    }
    for algorithm in ["EdDSA", "ES256"] {
        let server = Server::start_with_env(
            &["--strategy", "stateful-jwt"],
            &[("LATCHKEY_JWT_ALGORITHM", algorithm)],
        );
        let token = user_with_token(&server, "alice").await;
        let keys = jwks(&server).await;
        assert_eq!(keys.status, 200, "{}", keys.raw);
        assert_eq!(keys.header("cache-control"), Some("public, max-age=60"));
        let header = decode(token.split('.').next().unwrap());
        assert_eq!(header["alg"], algorithm);
        let checked = verify_independently(&token, &keys.body);
        let claims = decode(token.split('.').nth(1).unwrap());
        let me = get_bearer(&server, "/auth/me", &token).await;
        assert_eq!(checked["sub"], me.body["user_id"]);
        assert_eq!(checked["custom"]["sid"], me.body["session_id"]);
        assert_eq!(claims["sub"], me.body["user_id"]);
        assert_eq!(claims["sid"], me.body["session_id"]);
        assert_eq!(claims["iss"], "latchkey");
        for claim in ["iat", "exp", "nbf", "jti"] {
            assert!(claims.get(claim).is_some(), "{claim} missing from {claims}");
        }
        assert!(
            claims.get("csrf").is_none(),
            "mobile tokens carry no CSRF claim"
        );
        // Browser tokens carry the CSRF token as a claim.
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
        let web_claims = decode(cookie.split('.').nth(1).unwrap());
        assert_eq!(web_claims["csrf"], r.body["csrf_token"]);
    }
}

#[tokio::test]
async fn hmac_keys_are_never_published_and_session_strategy_has_no_jwks() {
    if !once() {
        return;
    }
    let server = Server::start_with_env(
        &["--strategy", "stateful-jwt"],
        &[("LATCHKEY_JWT_ALGORITHM", "HS256")],
    );
    let token = user_with_token(&server, "alice").await;
    assert_eq!(decode(token.split('.').next().unwrap())["alg"], "HS256");
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
    assert_eq!(jwks(&server).await.body, json!({"keys": []}));
    let plain = Server::start(&["--strategy", "session"]);
    jwks(&plain).await.error(404, "not_found");
}

#[tokio::test]
async fn rotation_keeps_old_tokens_and_signs_new_ones_with_the_new_key() {
    if !once() {
        return;
    }
    let server = Server::start_with_env(
        &["--strategy", "stateful-jwt"],
        &[("LATCHKEY_KEY_POLL_INTERVAL", "100ms")],
    );
    let old = user_with_token(&server, "alice").await;
    let old_kid = decode(old.split('.').next().unwrap())["kid"].clone();
    let out = server.cli(&["keys", "rotate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&server.cli(&["keys", "list"], None).stdout);
    assert!(
        listing.contains("verifying") && listing.contains("signing"),
        "{listing}"
    );
    // The running server picks the new key up on its own.
    let started = Instant::now();
    let new = loop {
        let t = mobile_login(&server, "alice").await;
        if decode(t.split('.').next().unwrap())["kid"] != old_kid {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "rotation not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        get_bearer(&server, "/auth/me", &old).await.status,
        200,
        "old token still valid"
    );
    assert_eq!(get_bearer(&server, "/auth/me", &new).await.status, 200);
    let keys = jwks(&server).await.body;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    verify_independently(&old, &keys);
    verify_independently(&new, &keys);
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_401_never_5xx() {
    // In every JWT strategy: the session run uses stateful-jwt.
    let strategy = match strategy().as_str() {
        "session" => "stateful-jwt".to_owned(),
        other => other.to_owned(),
    };
    let server = Server::start(&["--strategy", &strategy]);
    let token = user_with_token(&server, "alice").await;
    // Verified once, so the forgeries below meet a warm cache of verified
    // tokens: none of them may be mistaken for this one.
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
    let parts: Vec<&str> = token.split('.').collect();
    let header = decode(parts[0]);
    let kid = header["kid"].as_str().unwrap();
    let h = |v: Value| B64.encode(v.to_string());
    let mut claims = decode(parts[1]);
    claims["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let tampered = B64.encode(claims.to_string());
    let mut expired = decode(parts[1]);
    expired["exp"] = json!(1);
    let expired = B64.encode(expired.to_string());
    let forged = [
        format!("{}.{}.", h(json!({"alg": "none", "kid": kid})), parts[1]),
        format!("{}.{}.", h(json!({"alg": "None"})), parts[1]),
        format!(
            "{}.{}.{}",
            h(json!({"alg": "HS256", "kid": kid})),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            h(json!({"alg": "EdDSA", "kid": "../../../dev/null"})),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            h(json!({"alg": "EdDSA", "kid": "x' OR '1'='1"})),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            h(json!({"alg": "EdDSA", "kid": kid, "jku": "http://127.0.0.1:1/jwks.json"})),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], tampered, parts[2]),
        format!("{}.{}.{}", parts[0], expired, parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        token[..token.len() - 10].to_owned(),
        "e30.e30.e30".to_owned(),
    ];
    for bad in &forged {
        let r = get_bearer(&server, "/auth/me", bad).await;
        r.error(401, "unauthenticated");
        let v = get_bearer(&server, "/auth/verify", bad).await;
        v.error(401, "unauthenticated");
    }
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
}

#[tokio::test]
async fn the_algorithm_changes_only_by_server_configuration() {
    if !once() {
        return;
    }
    let mut server = Server::start(&["--strategy", "access-refresh"]);
    let old = user_with_token(&server, "alice").await;
    assert_eq!(decode(old.split('.').next().unwrap())["alg"], "EdDSA");
    // An admin command run with other settings does not switch algorithms.
    let mut cmd = latchkey();
    let out = cmd
        .current_dir(server.dir())
        .env("LATCHKEY_JWT_ALGORITHM", "ES256")
        .args(["users", "add", "bob", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(PASSWORD.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&server.cli(&["keys", "list"], None).stdout);
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(
        listing.contains("EdDSA\t") && listing.contains("signing"),
        "{listing}"
    );

    // The server restarted with ES256 signs with a new ES256 key; tokens
    // of the old key stay valid until they expire.
    server.restart_with_env(&[("LATCHKEY_JWT_ALGORITHM", "ES256")]);
    let new = mobile_login(&server, "alice").await;
    assert_eq!(decode(new.split('.').next().unwrap())["alg"], "ES256");
    assert_eq!(get_bearer(&server, "/auth/me", &old).await.status, 200);
    let keys = jwks(&server).await.body;
    verify_independently(&old, &keys);
    verify_independently(&new, &keys);
}

#[tokio::test]
async fn tokens_longer_lived_than_the_configuration_issues_are_refused() {
    if !once() {
        return;
    }
    // Issued under a 1 h access TTL; after a restart with 2 s the deny-list
    // is sized for 2 s, so such a token must not be accepted at all.
    let mut server = Server::start(&["--strategy", "access-refresh", "--access-ttl", "1h"]);
    let token = user_with_token(&server, "alice").await;
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
    server.restart_with_args(&["--access-ttl", "2s"]);
    get_bearer(&server, "/auth/me", &token)
        .await
        .error(401, "unauthenticated");
    let fresh = mobile_login(&server, "alice").await;
    assert_eq!(get_bearer(&server, "/auth/me", &fresh).await.status, 200);
}
