//! The `Store` contract, backend-neutral. Every case is an async function
//! over a migrated `Arc<dyn Store>` (or, for reconnecting, over a
//! [`Backend`]), here or in [`conformance_tokens`](crate::conformance_tokens)
//! (session lookup by id, revocation feeds, refresh tokens, generations, key
//! rotation); [`store_conformance_suite!`] turns the whole list into
//! `#[tokio::test]`s for one backend:
//!
//! ```ignore
//! crate::conformance::store_conformance_suite!(PostgresBackend);
//! ```

use std::sync::Arc;

use latchkey_core::{
    StoreError,
    ids::SessionId,
    secret::SecretToken,
    session::{ClientKind, RevocationReason},
    store::Store,
    user::Username,
};
use time::Duration;

use crate::fixtures::{
    T0, TTL, add_session, add_user, assert_same_key, assert_same_session, assert_same_user, ids,
    ipv6, is_stored, key, session, stored, user,
};

/// A database a suite can run against.
pub(crate) trait Backend: Sized {
    /// A new, empty database, isolated from every other test, that lives as
    /// long as the value.
    async fn fresh() -> Self;
    /// A new store (its own connection pool) on this database; not migrated.
    async fn connect(&self) -> Arc<dyn Store>;
    /// Whether the backend's server can be reached. Outside CI an
    /// unreachable server skips the suite with a note; with `CI` set it is
    /// a failure.
    async fn available() -> bool {
        true
    }
}

/// Runs one `case` on a fresh, migrated database of backend `B`.
pub(crate) async fn run<B, F, Fut>(case: F)
where
    B: Backend,
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    if !B::available().await {
        return;
    }
    let db = B::fresh().await;
    let store = db.connect().await;
    store.migrate().await.expect("migrate a fresh database");
    case(store).await;
    drop(db);
}

/// Instantiates every conformance case as a `#[tokio::test]` for the given
/// [`Backend`] type, in the module where it is invoked.
macro_rules! store_conformance_suite {
    ($backend:ty) => {
        $crate::conformance::store_conformance_suite!(@store_cases $backend, conformance;
            user_lookup_is_case_insensitive,
            case_variant_username_conflicts,
            set_password_hash_persists,
            session_round_trips_every_field,
            unknown_token_hash_is_none,
            active_sessions_are_live_own_and_newest_first,
            touch_session_only_moves_forward,
            revoke_session_once_and_only_own_live_ones,
            revoke_user_sessions_without_keep,
            revoke_user_sessions_with_keep,
            delete_expired_sessions_deletes_only_expired,
            keys_round_trip_oldest_first,
            migrate_twice_is_harmless,
        );
        $crate::conformance::store_conformance_suite!(@store_cases $backend, conformance_events;
            touch_with_a_client_records_where_it_was_last_seen,
            event_round_trips_every_field,
            events_page_newest_first_through_cursors,
            events_are_per_user,
            delete_events_before_prunes_only_older_ones,
        );
        $crate::conformance::store_conformance_suite!(@store_cases $backend, conformance_tokens;
            session_by_id_finds_every_state,
            revoke_user_sessions_returns_exactly_the_revoked_ids,
            revocations_since_is_inclusive_to_the_millisecond,
            refresh_token_round_trips_every_field,
            rotate_refresh_token_spends_once,
            rotate_unknown_refresh_token_stores_nothing,
            failed_rotation_leaves_the_token_live,
            concurrent_rotations_of_one_token_rotate_once,
            deleting_a_session_deletes_its_refresh_tokens,
            advance_generation_moves_only_from_the_current_one,
            advance_generation_refuses_ended_sessions,
            concurrent_generation_advances_advance_once,
            rotate_key_retires_every_signer,
            generation_and_renewed_at_round_trip,
        );

        #[tokio::test]
        async fn data_survives_reconnect() {
            $crate::conformance::data_survives_reconnect::<$backend>().await;
        }
    };
    (@store_cases $backend:ty, $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::run::<$backend, _, _>($crate::$module::$case).await;
            }
        )*
    };
}
pub(crate) use store_conformance_suite;

// --- users -----------------------------------------------------------------

pub(crate) async fn user_lookup_is_case_insensitive(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let _bob = add_user(&store, "bob").await;

    for spelling in ["Alice", "aLICE", "alice", "ALICE"] {
        let found = store
            .user_by_username(&Username::parse(spelling).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{spelling:?} should find Alice"));
        // The display form is the one registered, whatever the lookup.
        assert_same_user(&found, &alice);
    }
    let missing = store
        .user_by_username(&Username::parse("carol").unwrap())
        .await
        .unwrap();
    assert!(missing.is_none(), "unknown user must be None");
}

pub(crate) async fn case_variant_username_conflicts(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;

    for spelling in ["Alice", "aLICE"] {
        let err = store.create_user(&user(spelling)).await;
        assert!(
            matches!(err, Err(StoreError::Conflict)),
            "{spelling:?}: expected Conflict, got {err:?}"
        );
    }
    // The first account is untouched.
    let found = store
        .user_by_username(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_same_user(&found, &alice);
}

pub(crate) async fn set_password_hash_persists(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;

    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$new-salt$new-hash";
    store.set_password_hash(alice.id, new_hash).await.unwrap();

    let found = store
        .user_by_username(&alice.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.password_hash, new_hash);
    assert_eq!(found.id, alice.id);
    let other = store
        .user_by_username(&bob.username)
        .await
        .unwrap()
        .unwrap();
    assert_same_user(&other, &bob);
}

// --- sessions --------------------------------------------------------------

pub(crate) async fn session_round_trips_every_field(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let _bob = add_user(&store, "Bob").await;

    // Every optional field set, non-default client, IPv6, non-ASCII agent.
    let mut full = session(&alice, T0, TTL);
    full.client = ClientKind::Mobile;
    full.last_seen_at = T0 + Duration::milliseconds(1);
    full.ip = Some(ipv6());
    full.user_agent = Some("latchkey-test/1.0 (é; ☃)".into());
    full.last_ip = Some("198.51.100.4".parse().unwrap());
    full.last_user_agent = Some("latchkey-test/1.1".into());
    store.create_session(&full).await.unwrap();

    // Every optional field empty, an IPv4 address-less web session.
    let bare = session(&alice, T0 + Duration::milliseconds(999), TTL);
    store.create_session(&bare).await.unwrap();

    // Already revoked when created: the revocation fields round-trip too.
    let mut revoked = session(&alice, T0, TTL);
    revoked.ip = Some("192.0.2.7".parse().unwrap());
    revoked.revoked_at = Some(T0 + Duration::milliseconds(123));
    revoked.revoked_reason = Some(RevocationReason::PasswordChange);
    store.create_session(&revoked).await.unwrap();

    for expected in [&full, &bare, &revoked] {
        let (got, owner) = store
            .session_by_token(&expected.token_hash)
            .await
            .unwrap()
            .expect("stored session is found by its token hash");
        assert_same_session(&got, expected);
        assert_eq!(owner.as_str(), "Alice", "owner's display username");
    }
}

pub(crate) async fn unknown_token_hash_is_none(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    add_session(&store, &alice, T0, TTL).await;

    let unknown = SecretToken::generate().unwrap().hash();
    assert!(store.session_by_token(&unknown).await.unwrap().is_none());
}

pub(crate) async fn active_sessions_are_live_own_and_newest_first(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(30);

    let oldest = add_session(&store, &alice, T0, TTL).await;
    let newest = add_session(&store, &alice, T0 + Duration::minutes(2), TTL).await;
    let middle = add_session(&store, &alice, T0 + Duration::minutes(1), TTL).await;
    // Revoked, otherwise live.
    let revoked = add_session(&store, &alice, T0 + Duration::minutes(3), TTL).await;
    assert!(
        store
            .revoke_session(alice.id, revoked.id, now, RevocationReason::User)
            .await
            .unwrap()
    );
    // Expired long ago, and expiring exactly now (expired: `now >= expires_at`).
    add_session(&store, &alice, T0, Duration::minutes(5)).await;
    add_session(&store, &alice, T0, Duration::minutes(30)).await;
    // Expiring one millisecond from now: still live.
    let last_ms = add_session(
        &store,
        &alice,
        T0 - Duration::minutes(10),
        Duration::minutes(40) + Duration::milliseconds(1),
    )
    .await;
    let bobs = add_session(&store, &bob, T0 + Duration::minutes(4), TTL).await;

    let active = store.active_sessions(alice.id, now).await.unwrap();
    assert_eq!(
        ids(&active),
        vec![newest.id, middle.id, oldest.id, last_ms.id],
        "Alice's live sessions, newest first"
    );
    assert_same_session(&active[0], &newest);

    let active = store.active_sessions(bob.id, now).await.unwrap();
    assert_eq!(ids(&active), vec![bobs.id]);

    // Once everything has expired, nothing is active.
    let later = T0 + TTL + Duration::minutes(3);
    assert!(
        store
            .active_sessions(alice.id, later)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn touch_session_only_moves_forward(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let other = add_session(&store, &alice, T0, TTL).await;

    let t1 = T0 + Duration::seconds(90) + Duration::milliseconds(7);
    store.touch_session(s.id, t1, None).await.unwrap();
    assert_eq!(stored(&store, &s.token_hash).await.last_seen_at, t1);

    // An older time (a slow concurrent request) never moves it back.
    store
        .touch_session(s.id, T0 + Duration::seconds(10), None)
        .await
        .unwrap();
    assert_eq!(stored(&store, &s.token_hash).await.last_seen_at, t1);
    store.touch_session(s.id, t1, None).await.unwrap();
    assert_eq!(stored(&store, &s.token_hash).await.last_seen_at, t1);

    let t2 = t1 + Duration::milliseconds(1);
    store.touch_session(s.id, t2, None).await.unwrap();
    let after = stored(&store, &s.token_hash).await;
    assert_eq!(after.last_seen_at, t2);
    // Only last-seen changed.
    let mut expected = s.clone();
    expected.last_seen_at = t2;
    assert_same_session(&after, &expected);

    // The other session was not touched.
    assert_same_session(&stored(&store, &other.token_hash).await, &other);
}

pub(crate) async fn revoke_session_once_and_only_own_live_ones(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(10);

    let mine = add_session(&store, &alice, T0, TTL).await;
    let bobs = add_session(&store, &bob, T0, TTL).await;
    let expired = add_session(&store, &alice, T0, Duration::minutes(10)).await;

    assert!(
        store
            .revoke_session(alice.id, mine.id, now, RevocationReason::User)
            .await
            .unwrap(),
        "first revocation of a live session"
    );
    let after = stored(&store, &mine.token_hash).await;
    assert_eq!(after.revoked_at, Some(now));
    assert_eq!(after.revoked_reason, Some(RevocationReason::User));

    // Again, even with another reason and time: already ended, untouched.
    assert!(
        !store
            .revoke_session(
                alice.id,
                mine.id,
                now + Duration::minutes(1),
                RevocationReason::Admin
            )
            .await
            .unwrap(),
        "second revocation"
    );
    let after = stored(&store, &mine.token_hash).await;
    assert_eq!(after.revoked_at, Some(now));
    assert_eq!(after.revoked_reason, Some(RevocationReason::User));

    // Someone else's session: refused, and it stays active.
    assert!(
        !store
            .revoke_session(alice.id, bobs.id, now, RevocationReason::User)
            .await
            .unwrap(),
        "another user's session"
    );
    assert_same_session(&stored(&store, &bobs.token_hash).await, &bobs);
    assert_eq!(
        ids(&store.active_sessions(bob.id, now).await.unwrap()),
        vec![bobs.id]
    );

    // Expired (exactly at `now`): refused, and not marked revoked.
    assert!(
        !store
            .revoke_session(alice.id, expired.id, now, RevocationReason::User)
            .await
            .unwrap(),
        "expired session"
    );
    assert_same_session(&stored(&store, &expired.token_hash).await, &expired);

    // No such id at all.
    assert!(
        !store
            .revoke_session(alice.id, SessionId::new(), now, RevocationReason::User)
            .await
            .unwrap(),
        "unknown id"
    );
}

pub(crate) async fn revoke_user_sessions_without_keep(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(10);
    let earlier = T0 + Duration::minutes(5);

    let live = [
        add_session(&store, &alice, T0, TTL).await,
        add_session(&store, &alice, T0 + Duration::minutes(1), TTL).await,
        add_session(&store, &alice, T0 + Duration::minutes(2), TTL).await,
    ];
    let already = add_session(&store, &alice, T0, TTL).await;
    assert!(
        store
            .revoke_session(alice.id, already.id, earlier, RevocationReason::Logout)
            .await
            .unwrap()
    );
    let expired = add_session(&store, &alice, T0, Duration::minutes(1)).await;
    let bobs = add_session(&store, &bob, T0, TTL).await;

    let n = store
        .revoke_user_sessions(alice.id, None, now, RevocationReason::LogoutAll)
        .await
        .unwrap();
    assert_eq!(n.len(), 3, "only Alice's live sessions count");

    for s in &live {
        let after = stored(&store, &s.token_hash).await;
        assert_eq!(after.revoked_at, Some(now));
        assert_eq!(after.revoked_reason, Some(RevocationReason::LogoutAll));
    }
    assert!(
        store
            .active_sessions(alice.id, now)
            .await
            .unwrap()
            .is_empty()
    );

    // The already-revoked one keeps its original time and reason.
    let after = stored(&store, &already.token_hash).await;
    assert_eq!(after.revoked_at, Some(earlier));
    assert_eq!(after.revoked_reason, Some(RevocationReason::Logout));
    // The expired one is left alone.
    assert_same_session(&stored(&store, &expired.token_hash).await, &expired);
    // Bob's is untouched.
    assert_same_session(&stored(&store, &bobs.token_hash).await, &bobs);

    // Nothing left to revoke.
    let n = store
        .revoke_user_sessions(alice.id, None, now, RevocationReason::LogoutAll)
        .await
        .unwrap();
    assert_eq!(n.len(), 0);
}

pub(crate) async fn revoke_user_sessions_with_keep(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(10);

    let a = add_session(&store, &alice, T0, TTL).await;
    let keep = add_session(&store, &alice, T0 + Duration::minutes(1), TTL).await;
    let c = add_session(&store, &alice, T0 + Duration::minutes(2), TTL).await;
    let bobs = add_session(&store, &bob, T0, TTL).await;

    let n = store
        .revoke_user_sessions(
            alice.id,
            Some(keep.id),
            now,
            RevocationReason::PasswordChange,
        )
        .await
        .unwrap();
    assert_eq!(n.len(), 2);

    for s in [&a, &c] {
        let after = stored(&store, &s.token_hash).await;
        assert_eq!(after.revoked_at, Some(now));
        assert_eq!(after.revoked_reason, Some(RevocationReason::PasswordChange));
    }
    assert_same_session(&stored(&store, &keep.token_hash).await, &keep);
    assert_eq!(
        ids(&store.active_sessions(alice.id, now).await.unwrap()),
        vec![keep.id]
    );
    assert_same_session(&stored(&store, &bobs.token_hash).await, &bobs);

    // Keeping the only live session revokes nothing; keeping an id that is
    // not Alice's (Bob's) still revokes all of hers.
    let n = store
        .revoke_user_sessions(alice.id, Some(keep.id), now, RevocationReason::Admin)
        .await
        .unwrap();
    assert_eq!(n.len(), 0);
    let n = store
        .revoke_user_sessions(alice.id, Some(bobs.id), now, RevocationReason::Admin)
        .await
        .unwrap();
    assert_eq!(n.len(), 1);
    let after = stored(&store, &keep.token_hash).await;
    assert_eq!(after.revoked_reason, Some(RevocationReason::Admin));
    assert_same_session(&stored(&store, &bobs.token_hash).await, &bobs);
}

pub(crate) async fn delete_expired_sessions_deletes_only_expired(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let before = T0 + Duration::hours(2);

    // Expired, by `Session::state`'s rule (`now >= expires_at`).
    let long_gone = add_session(&store, &alice, T0, Duration::minutes(1)).await;
    let at_boundary = add_session(&store, &bob, T0, Duration::hours(2)).await;
    let revoked_and_expired = add_session(&store, &alice, T0, TTL).await;
    assert!(
        store
            .revoke_session(alice.id, revoked_and_expired.id, T0, RevocationReason::User)
            .await
            .unwrap()
    );
    // Not expired.
    let live = add_session(&store, &alice, T0, Duration::hours(3)).await;
    let last_ms = add_session(
        &store,
        &bob,
        T0,
        Duration::hours(2) + Duration::milliseconds(1),
    )
    .await;
    let revoked_live = add_session(&store, &alice, T0, Duration::hours(3)).await;
    assert!(
        store
            .revoke_session(alice.id, revoked_live.id, T0, RevocationReason::User)
            .await
            .unwrap()
    );

    let n = store.delete_expired_sessions(before).await.unwrap();
    assert_eq!(n, 3);

    for (s, what) in [
        (&long_gone, "long expired"),
        (&at_boundary, "expiring exactly at `before`"),
        (&revoked_and_expired, "revoked and expired"),
    ] {
        assert!(!is_stored(&store, &s.token_hash).await, "{what} is deleted");
    }
    assert_same_session(&stored(&store, &live.token_hash).await, &live);
    assert_same_session(&stored(&store, &last_ms.token_hash).await, &last_ms);
    let kept = stored(&store, &revoked_live.token_hash).await;
    assert_eq!(kept.revoked_at, Some(T0), "revoked but unexpired stays");

    assert_eq!(store.delete_expired_sessions(before).await.unwrap(), 0);
}

// --- keys ------------------------------------------------------------------

pub(crate) async fn keys_round_trip_oldest_first(store: Arc<dyn Store>) {
    assert!(store.keys().await.unwrap().is_empty());

    let middle = key(T0 + Duration::days(1));
    let newest = key(T0 + Duration::days(2));
    let mut oldest = key(T0);
    oldest.retired_at = Some(T0 + Duration::days(1) + Duration::milliseconds(5));
    // Inserted out of order.
    for k in [&newest, &oldest, &middle] {
        store.insert_key(k).await.unwrap();
    }

    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    for (got, expected) in keys.iter().zip([&oldest, &middle, &newest]) {
        assert_same_key(got, expected);
    }
}

// --- schema and durability -------------------------------------------------

pub(crate) async fn migrate_twice_is_harmless(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;

    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    store.ping().await.unwrap();

    let found = store
        .user_by_username(&alice.username)
        .await
        .unwrap()
        .unwrap();
    assert_same_user(&found, &alice);
    assert_same_session(&stored(&store, &s.token_hash).await, &s);
    add_user(&store, "Bob").await;
}

pub(crate) async fn data_survives_reconnect<B: Backend>() {
    if !B::available().await {
        return;
    }
    let db = B::fresh().await;
    let store = db.connect().await;
    store.migrate().await.unwrap();

    let alice = add_user(&store, "Alice").await;
    let mut s = session(&alice, T0, TTL);
    s.ip = Some(ipv6());
    s.user_agent = Some("agent".into());
    store.create_session(&s).await.unwrap();
    let revoked = add_session(&store, &alice, T0, TTL).await;
    store
        .revoke_session(alice.id, revoked.id, T0, RevocationReason::Logout)
        .await
        .unwrap();
    let k = key(T0);
    store.insert_key(&k).await.unwrap();
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$changed";
    store.set_password_hash(alice.id, new_hash).await.unwrap();
    drop(store);

    let store = db.connect().await;
    // As the binary does on every start.
    store.migrate().await.unwrap();

    let found = store
        .user_by_username(&Username::parse("ALICE").unwrap())
        .await
        .unwrap()
        .expect("user survives");
    assert_eq!(found.id, alice.id);
    assert_eq!(found.password_hash, new_hash);
    let (got, owner) = store
        .session_by_token(&s.token_hash)
        .await
        .unwrap()
        .expect("session survives");
    assert_same_session(&got, &s);
    assert_eq!(owner, alice.username);
    let got = stored(&store, &revoked.token_hash).await;
    assert_eq!(got.revoked_at, Some(T0));
    assert_eq!(got.revoked_reason, Some(RevocationReason::Logout));
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_same_key(&keys[0], &k);
    // The uniqueness rule survives too.
    assert!(matches!(
        store.create_user(&user("alice")).await,
        Err(StoreError::Conflict)
    ));
}
