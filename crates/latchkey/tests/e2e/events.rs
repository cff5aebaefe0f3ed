//! The security log (`GET /auth/events`) and password change
//! (`POST /auth/password`).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{devices::*, support::*};

async fn change_password(server: &Server, token: &str, current: &str, new: &str) -> Reply {
    Reply::from(
        agent(PHONE)
            .post(server.url("/auth/password"))
            .bearer_auth(token)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_action_leaves_its_event_newest_first() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let main = app_login(&server, "alice", PHONE, None).await;

    // A wrong password for this user: logged in their log (after the
    // response, so give it a moment).
    let failed = Reply::from(
        agent(CHROME)
            .post(server.url("/auth/login"))
            .json(&json!({ "username": "alice", "password": "not the password" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    failed.error(401, "unauthenticated");

    // Another device, ended from this one.
    let other = app_login(&server, "alice", PHONE, None).await;
    let other_id = get_as(&server, "/auth/me", &other, PHONE, None).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = Reply::from(
        agent(PHONE)
            .delete(server.url(&format!("/auth/sessions/{other_id}")))
            .bearer_auth(&main)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ended.status, 204, "{}", ended.raw);

    // A third one, signed out by itself.
    let third = app_login(&server, "alice", PHONE, None).await;
    let out = agent(PHONE)
        .request(Method::POST, server.url("/auth/logout"))
        .bearer_auth(&third)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);

    // An operator ends what is left.
    let fourth = app_login(&server, "alice", PHONE, None).await;
    let cli = server.cli(&["users", "revoke-all", "alice"], None);
    assert!(cli.status.success(), "{}", text(&cli.stderr));

    // Log in again and read the log.
    let reader = app_login(&server, "alice", PHONE, None).await;
    let events = events_of(&server, &reader, PHONE).await;
    let times: Vec<time::OffsetDateTime> = events
        .iter()
        .map(|e| {
            let at = e["at"].as_str().unwrap();
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    assert_eq!(
        count(&events, "login_failed", "bad_password"),
        1,
        "{events:?}"
    );
    let failed = events.iter().find(|e| e["type"] == "login_failed").unwrap();
    assert_eq!(failed["device"], "Chrome on Windows");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(count_kind(&events, "login_succeeded"), 5);
    assert_eq!(count(&events, "session_revoked", "user"), 1);
    assert_eq!(count_kind(&events, "logout"), 1, "{:?}", kinds(&events));
    // The admin ended `main` and `fourth`.
    assert_eq!(count(&events, "session_revoked", "admin"), 2);
    // The JWT strategies hear of the CLI's revocation at their next store
    // poll (every 250 ms).
    for token in [main, fourth] {
        let started = std::time::Instant::now();
        loop {
            let r = get_as(&server, "/auth/me", &token, PHONE, None).await;
            if r.status == 401 || started.elapsed().as_secs() >= 3 {
                r.error(401, "session_revoked");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    for e in &events {
        for field in ["id", "type", "at", "device"] {
            assert!(e.get(field).is_some(), "{field} in {e}");
        }
    }
    // Each event is a log line too, and none carries a secret.
    let log = server.log();
    for kind in [
        "login_failed",
        "session_revoked",
        "logout",
        "login_succeeded",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("security event") && l.contains(kind)),
            "no {kind} line in:\n{log}"
        );
    }
    for secret in [PASSWORD, "not the password", reader.as_str()] {
        assert!(!log.contains(secret), "a secret in the log");
    }
}

#[tokio::test]
async fn events_page_with_a_cursor_and_refuse_bad_parameters() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let mut token = String::new();
    for _ in 0..5 {
        token = app_login(&server, "alice", PHONE, None).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/auth/events?limit=2&cursor={c}"),
            None => "/auth/events?limit=2".to_owned(),
        };
        let r = get_as(&server, &path, &token, PHONE, None).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let page = r.body["events"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(r.body["next_cursor"].is_null(), "{}", r.raw);
                break;
            }
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);
    assert_eq!(pages, 3);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "limit=-1",
        "cursor=nonsense",
        "cursor=%00%01",
        "colour=red",
    ] {
        get_as(&server, &format!("/auth/events?{bad}"), &token, PHONE, None)
            .await
            .error(400, "invalid_request");
    }
    http()
        .get(server.url("/auth/events"))
        .send()
        .await
        .map(|r| assert_eq!(r.status(), 401))
        .unwrap();
}

#[tokio::test]
async fn events_are_only_the_callers_own() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    register(&server, "bob").await;
    let alice = app_login(&server, "alice", PHONE, None).await;
    let bob = app_login(&server, "bob", PHONE, None).await;
    let alice_session =
        get_as(&server, "/auth/me", &alice, PHONE, None).await.body["session_id"].clone();
    let events = events_of(&server, &bob, PHONE).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events.iter().all(|e| e["session_id"] != alice_session));
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let phone = app_login(&server, "alice", PHONE, None).await;
    let web = web_login(&server, "alice").await;

    // Browsers need the CSRF token, like every unsafe cookie request.
    let no_csrf = Reply::from(
        web.client
            .post(server.url("/auth/password"))
            .json(
                &json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    no_csrf.error(403, "csrf_failed");

    change_password(&server, &phone, "wrong password!", "a brand new passphrase")
        .await
        .error(403, "forbidden");
    change_password(&server, &phone, PASSWORD, "short")
        .await
        .error(400, "invalid_request");
    change_password(&server, &phone, PASSWORD, PASSWORD)
        .await
        .error(400, "invalid_request");
    let bad_body = Reply::from(
        agent(PHONE)
            .post(server.url("/auth/password"))
            .bearer_auth(&phone)
            .json(&json!({ "new_password": "a brand new passphrase" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    bad_body.error(400, "invalid_request");

    let changed = Reply::from(
        web.client
            .post(server.url("/auth/password"))
            .header("x-csrf-token", &web.csrf)
            .json(
                &json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(changed.status, 204, "{}", changed.raw);

    // This browser stays; the phone is out.
    assert_eq!(web.get(&server, "/auth/me").await.status, 200);
    get_as(&server, "/auth/me", &phone, PHONE, None)
        .await
        .error(401, "session_revoked");

    // The old password is gone, the new one works.
    post_json(
        &server,
        "/auth/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await
    .error(401, "unauthenticated");
    let again = post_json(
        &server,
        "/auth/login",
        json!({ "username": "alice", "password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.raw);

    let events = web.get(&server, "/auth/events").await;
    let events = events.body["events"].as_array().unwrap().clone();
    assert_eq!(count_kind(&events, "password_changed"), 1);
    assert_eq!(count(&events, "session_revoked", "password_change"), 1);
}
