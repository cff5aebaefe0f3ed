//! Listing and ending sessions: one device, this one, or all of them.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

async fn session_ids(server: &Server, token: &str) -> Vec<(String, bool)> {
    let r = get_bearer(server, "/auth/sessions", token).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lists_only_the_callers_live_sessions_with_their_details() {
    let server = Server::start(&[]);
    let a1 = user_with_token(&server, "alice").await;
    let a2 = mobile_login(&server, "alice").await;
    let gone = mobile_login(&server, "alice").await;
    send_bearer(&server, Method::POST, "/auth/logout", &gone).await;
    user_with_token(&server, "bob").await;
    let r = get_bearer(&server, "/auth/sessions", &a1).await;
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", r.raw);
    for s in list {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "ip",
            "user_agent",
            "current",
        ] {
            assert!(s.get(field).is_some(), "missing {field} in {s}");
        }
        assert_eq!(s["ip"], "127.0.0.1");
    }
    let me = get_bearer(&server, "/auth/me", &a1).await.body["session_id"].clone();
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], me);
    // Newest first.
    let me2 = get_bearer(&server, "/auth/me", &a2).await.body["session_id"].clone();
    assert_eq!(list[0]["id"], me2);
}

#[tokio::test]
async fn delete_ends_one_of_my_sessions_and_nobody_elses() {
    let server = Server::start(&[]);
    let laptop = user_with_token(&server, "alice").await;
    let phone = mobile_login(&server, "alice").await;
    let bob = user_with_token(&server, "bob").await;
    let phone_id = get_bearer(&server, "/auth/me", &phone).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = get_bearer(&server, "/auth/me", &bob).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob cannot end Alice's session, nor learn that it exists.
    send_bearer(
        &server,
        Method::DELETE,
        &format!("/auth/sessions/{phone_id}"),
        &bob,
    )
    .await
    .error(404, "not_found");
    assert_eq!(get_bearer(&server, "/auth/me", &phone).await.status, 200);

    let r = send_bearer(
        &server,
        Method::DELETE,
        &format!("/auth/sessions/{phone_id}"),
        &laptop,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    get_bearer(&server, "/auth/me", &phone)
        .await
        .error(401, "session_revoked");
    assert_eq!(session_ids(&server, &laptop).await.len(), 1);
    // Ended already, someone else's, not an id at all: the same 404.
    for id in [phone_id.as_str(), bob_id.as_str(), "not-a-uuid"] {
        send_bearer(
            &server,
            Method::DELETE,
            &format!("/auth/sessions/{id}"),
            &laptop,
        )
        .await
        .error(404, "not_found");
    }
    assert_eq!(get_bearer(&server, "/auth/me", &bob).await.status, 200);
}

#[tokio::test]
async fn deleting_my_current_session_signs_me_out() {
    let server = Server::start(&[]);
    register(&server, "alice").await;
    let user = web_login(&server, "alice").await;
    let r = user
        .send(
            &server,
            reqwest::Method::DELETE,
            &format!("/auth/sessions/{}", user.session_id),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert!(r.session_cookie().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let server = Server::start(&[]);
    let a1 = user_with_token(&server, "alice").await;
    let a2 = mobile_login(&server, "alice").await;
    let web = web_login(&server, "alice").await;
    let bob = user_with_token(&server, "bob").await;
    let r = web
        .send(&server, reqwest::Method::POST, "/auth/logout-all")
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert!(r.session_cookie().unwrap().contains("Max-Age=0"));
    for t in [&a1, &a2] {
        get_bearer(&server, "/auth/me", t)
            .await
            .error(401, "session_revoked");
    }
    assert_eq!(get_bearer(&server, "/auth/me", &bob).await.status, 200);
    // Signing in again works.
    let fresh = mobile_login(&server, "alice").await;
    assert_eq!(session_ids(&server, &fresh).await.len(), 1);
}

#[tokio::test]
async fn sessions_expire_at_the_session_ttl() {
    // A leeway below a second: JWTs carry whole-second times.
    let server = Server::start_with_env(
        &["--session-ttl", "2s"],
        &[("LATCHKEY_CLOCK_LEEWAY", "1ms")],
    );
    let token = user_with_token(&server, "alice").await;
    assert_eq!(get_bearer(&server, "/auth/me", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    get_bearer(&server, "/auth/me", &token)
        .await
        .error(401, "unauthenticated");
}
