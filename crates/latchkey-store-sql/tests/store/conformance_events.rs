//! The `Store` contract for devices and the security log: where a session
//! was last seen from, and events paged newest first.

use std::sync::Arc;

use latchkey_core::{
    event::{EventKind, SecurityEvent},
    ids::SessionId,
    session::ClientContext,
    store::Store,
};
use time::Duration;

use crate::fixtures::{T0, TTL, add_session, add_user, ipv6, stored};

pub(crate) async fn touch_with_a_client_records_where_it_was_last_seen(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let phone = ClientContext::new(Some(ipv6()), Some("latchkey-demo/1.2 (iPhone; iOS 17.1)"));
    let t1 = T0 + Duration::seconds(5);
    store.touch_session(s.id, t1, Some(&phone)).await.unwrap();
    let got = stored(&store, &s.token_hash).await;
    assert_eq!(got.last_seen_at, t1);
    assert_eq!(got.last_ip, phone.ip);
    assert_eq!(got.last_user_agent, phone.user_agent);
    // Where it signed in from is kept.
    assert_eq!(got.ip, s.ip);
    assert_eq!(got.user_agent, s.user_agent);

    // An unknown address leaves the last known one; the agent is replaced.
    let anonymous = ClientContext::new(None, None);
    store
        .touch_session(s.id, t1 + Duration::seconds(1), Some(&anonymous))
        .await
        .unwrap();
    let got = stored(&store, &s.token_hash).await;
    assert_eq!(got.last_ip, phone.ip);
    assert_eq!(got.last_user_agent, None);

    // Without a client, only the time moves.
    store
        .touch_session(s.id, t1 + Duration::seconds(2), None)
        .await
        .unwrap();
    let got = stored(&store, &s.token_hash).await;
    assert_eq!(got.last_seen_at, t1 + Duration::seconds(2));
    assert_eq!(got.last_ip, phone.ip);
}

fn event(owner: latchkey_core::ids::UserId, kind: EventKind, at_ms: i64) -> SecurityEvent {
    SecurityEvent::new(owner, kind, T0 + Duration::milliseconds(at_ms), None)
}

pub(crate) async fn event_round_trips_every_field(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let context = ClientContext::new(Some(ipv6()), Some("Mozilla/5.0 (é; ☃) Firefox/120.0"));
    let full = SecurityEvent::new(alice.id, EventKind::SessionRevoked, T0, Some(&context))
        .session(SessionId::new())
        .reason("theft_detection")
        .detail("a spent credential was presented again");
    let bare = event(alice.id, EventKind::LoginFailed, 1);
    store.record_event(&full).await.unwrap();
    store.record_event(&bare).await.unwrap();
    let got = store.events(alice.id, None, 10).await.unwrap();
    assert_eq!(got, vec![bare, full]);
}

pub(crate) async fn events_page_newest_first_through_cursors(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    // Seven events, three of them in the same millisecond: the id breaks
    // the tie, so paging neither repeats nor skips one.
    let mut all = Vec::new();
    for at in [1, 2, 2, 2, 3, 4, 5] {
        let e = event(alice.id, EventKind::LoginSucceeded, at);
        store.record_event(&e).await.unwrap();
        all.push(e);
    }
    all.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.events(alice.id, cursor, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor());
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

pub(crate) async fn events_are_per_user(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    store
        .record_event(&event(alice.id, EventKind::Logout, 1))
        .await
        .unwrap();
    let bobs = event(bob.id, EventKind::PasswordChanged, 2);
    store.record_event(&bobs).await.unwrap();
    assert_eq!(store.events(bob.id, None, 10).await.unwrap(), vec![bobs]);
    assert_eq!(store.events(alice.id, None, 10).await.unwrap().len(), 1);
}

pub(crate) async fn delete_events_before_prunes_only_older_ones(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let old = event(alice.id, EventKind::LoginSucceeded, 0);
    let edge = event(alice.id, EventKind::LoginSucceeded, 1000);
    let new = event(alice.id, EventKind::LoginSucceeded, 2000);
    for e in [&old, &edge, &new] {
        store.record_event(e).await.unwrap();
    }
    let deleted = store
        .delete_events_before(T0 + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        store.events(alice.id, None, 10).await.unwrap(),
        vec![new, edge]
    );
}
