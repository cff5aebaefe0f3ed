//! More of the `Store` contract: sessions by id, the revocation feed,
//! refresh tokens, token generations and key rotation. Same shape as
//! [`conformance`](crate::conformance): each case is an async function over a
//! migrated `Arc<dyn Store>`, listed in
//! [`store_conformance_suite!`](crate::conformance::store_conformance_suite).

use std::sync::Arc;

use latchkey_core::{
    ids::SessionId,
    secret::SecretToken,
    session::{RevocationReason, SessionState},
    store::{Rotation, Store},
};
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

use crate::fixtures::{
    T0, TTL, add_refresh, add_session, add_user, assert_same_key, assert_same_refresh,
    assert_same_session, is_stored, key, refresh, session, stored, stored_refresh,
};

/// How many tasks race in the concurrency cases.
const RACERS: i64 = 20;
/// How many races each concurrency case runs.
const ROUNDS: usize = 5;

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

/// Runs `op(0)` .. `op(RACERS - 1)` as separate tasks, released together,
/// and returns their outputs in that order.
async fn race<T, F, Fut>(op: F) -> Vec<T>
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(usize::try_from(RACERS).unwrap()));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (barrier, op) = (barrier.clone(), op(i));
            tokio::spawn(async move {
                barrier.wait().await;
                op.await
            })
        })
        .collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outputs.push(task.await.expect("racer task"));
    }
    outputs
}

/// Opens the store's connections before a race, so the racers meet in the
/// database rather than queue behind connection setup.
async fn warm_up(store: &Arc<dyn Store>) {
    for _ in 0..2 {
        race(|_| {
            let store = store.clone();
            async move { store.ping().await.expect("ping") }
        })
        .await;
    }
}

// --- sessions by id and revocations ----------------------------------------

pub(crate) async fn session_by_id_finds_every_state(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(10);

    let mut active = session(&alice, T0, TTL);
    active.generation = 3;
    active.renewed_at = Some(T0 + ms(250));
    active.last_seen_at = T0 + ms(250);
    store.create_session(&active).await.unwrap();

    let revoked = add_session(&store, &alice, T0, TTL).await;
    assert!(
        store
            .revoke_session(alice.id, revoked.id, now, RevocationReason::User)
            .await
            .unwrap()
    );
    let mut revoked_now = revoked.clone();
    revoked_now.revoked_at = Some(now);
    revoked_now.revoked_reason = Some(RevocationReason::User);

    let expired = add_session(&store, &alice, T0, Duration::minutes(1)).await;
    let bobs = add_session(&store, &bob, T0, TTL).await;

    for (expected, owner, state) in [
        (&active, "Alice", SessionState::Active),
        (&revoked_now, "Alice", SessionState::Revoked),
        (&expired, "Alice", SessionState::Expired),
        (&bobs, "Bob", SessionState::Active),
    ] {
        let (got, name) = store
            .session_by_id(expected.id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{state:?} session of {owner} is found by id"));
        assert_same_session(&got, expected);
        assert_eq!(got.state(now), state);
        assert_eq!(name.as_str(), owner, "owner's display username");
    }

    assert!(
        store
            .session_by_id(SessionId::new())
            .await
            .unwrap()
            .is_none(),
        "unknown id must be None"
    );
}

pub(crate) async fn revoke_user_sessions_returns_exactly_the_revoked_ids(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    let now = T0 + Duration::minutes(10);

    let live = [
        add_session(&store, &alice, T0, TTL).await,
        add_session(&store, &alice, T0 + Duration::minutes(1), TTL).await,
        add_session(&store, &alice, T0 + Duration::minutes(2), TTL).await,
    ];
    let keep = add_session(&store, &alice, T0, TTL).await;
    let already = add_session(&store, &alice, T0, TTL).await;
    assert!(
        store
            .revoke_session(alice.id, already.id, T0, RevocationReason::Logout)
            .await
            .unwrap()
    );
    // Expires exactly at `now`: already over.
    let expired = add_session(&store, &alice, T0, Duration::minutes(10)).await;
    let bobs = add_session(&store, &bob, T0, TTL).await;

    let mut got = store
        .revoke_user_sessions(alice.id, Some(keep.id), now, RevocationReason::LogoutAll)
        .await
        .unwrap();
    got.sort();
    let mut want: Vec<SessionId> = live.iter().map(|s| s.id).collect();
    want.sort();
    assert_eq!(
        got, want,
        "only Alice's live sessions other than `keep`, each once"
    );
    for id in &got {
        let (s, _) = store.session_by_id(*id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(now), "a returned id was revoked");
    }
    assert_eq!(
        stored(&store, &already.token_hash).await.revoked_at,
        Some(T0)
    );
    assert_same_session(&stored(&store, &expired.token_hash).await, &expired);
    assert_same_session(&stored(&store, &keep.token_hash).await, &keep);
    assert_same_session(&stored(&store, &bobs.token_hash).await, &bobs);

    // Without `keep`, only the one still live is left to revoke.
    let got = store
        .revoke_user_sessions(alice.id, None, now, RevocationReason::Admin)
        .await
        .unwrap();
    assert_eq!(got, vec![keep.id]);
    let got = store
        .revoke_user_sessions(alice.id, None, now, RevocationReason::Admin)
        .await
        .unwrap();
    assert!(got.is_empty(), "nothing left to revoke, got {got:?}");

    let got = store
        .revoke_user_sessions(bob.id, None, now, RevocationReason::Admin)
        .await
        .unwrap();
    assert_eq!(got, vec![bobs.id]);
}

pub(crate) async fn revocations_since_is_inclusive_to_the_millisecond(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let bob = add_user(&store, "Bob").await;
    // Has a millisecond part, like `T0`.
    let t = T0 + Duration::minutes(5);

    let mut revoked_at = Vec::new();
    for (offset, what) in [(-1, "just before"), (0, "exactly at"), (1, "just after")] {
        let s = add_session(&store, &alice, T0, TTL).await;
        let at = t + ms(offset);
        assert!(
            store
                .revoke_session(alice.id, s.id, at, RevocationReason::User)
                .await
                .unwrap(),
            "revoke the session {what} `t`"
        );
        revoked_at.push((s.id, at));
    }
    let [before, at_t, after] = revoked_at[..] else {
        unreachable!()
    };
    // Created already revoked.
    let mut created_revoked = session(&alice, T0, TTL);
    created_revoked.revoked_at = Some(t + ms(2));
    created_revoked.revoked_reason = Some(RevocationReason::Admin);
    store.create_session(&created_revoked).await.unwrap();
    let created_revoked = (created_revoked.id, t + ms(2));
    // Revoked in bulk, a minute later.
    let bobs = add_session(&store, &bob, T0, TTL).await;
    let later = t + Duration::minutes(1);
    store
        .revoke_user_sessions(bob.id, None, later, RevocationReason::PasswordChange)
        .await
        .unwrap();
    let bobs = (bobs.id, later);
    // Never revoked.
    add_session(&store, &alice, T0, TTL).await;

    let since = |at: OffsetDateTime| {
        let store = store.clone();
        async move {
            let mut got = store.revocations_since(at).await.unwrap();
            got.sort();
            got
        }
    };
    let sorted = |mut v: Vec<(SessionId, OffsetDateTime)>| {
        v.sort();
        v
    };

    assert_eq!(
        since(t).await,
        sorted(vec![at_t, after, created_revoked, bobs]),
        "since `t`: from `t` inclusive"
    );
    assert_eq!(
        since(t + ms(1)).await,
        sorted(vec![after, created_revoked, bobs]),
        "since `t` + 1 ms: the one at `t` is earlier"
    );
    assert_eq!(
        since(t - ms(1)).await,
        sorted(vec![before, at_t, after, created_revoked, bobs]),
    );
    assert_eq!(since(later).await, vec![bobs]);
    assert!(since(later + ms(1)).await.is_empty());
}

// --- refresh tokens --------------------------------------------------------

pub(crate) async fn refresh_token_round_trips_every_field(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let other = add_session(&store, &alice, T0, TTL).await;

    let live = refresh(&s, 0, T0 + ms(1));
    let mut spent = refresh(&s, 41, T0 + ms(999));
    spent.spent_at = Some(T0 + Duration::seconds(2) + ms(3));
    let others = refresh(&other, 1 << 40, T0);
    for r in [&live, &spent, &others] {
        store.create_refresh_token(r).await.unwrap();
    }

    for expected in [&live, &spent, &others] {
        let got = stored_refresh(&store, &expected.token_hash)
            .await
            .expect("stored refresh token is found by its hash");
        assert_same_refresh(&got, expected);
    }

    let unknown = SecretToken::generate().unwrap().hash();
    assert!(stored_refresh(&store, &unknown).await.is_none());
    // A session's credential is not a refresh token.
    assert!(stored_refresh(&store, &s.token_hash).await.is_none());
}

pub(crate) async fn rotate_refresh_token_spends_once(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let first = add_refresh(&store, &s, 0, T0).await;

    let t1 = T0 + Duration::minutes(1) + ms(7);
    let succ1 = refresh(&s, 1, t1);
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &succ1, t1)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    let mut first_spent = first.clone();
    first_spent.spent_at = Some(t1);
    assert_same_refresh(
        &stored_refresh(&store, &first.token_hash).await.unwrap(),
        &first_spent,
    );
    assert_same_refresh(
        &stored_refresh(&store, &succ1.token_hash)
            .await
            .expect("successor is stored"),
        &succ1,
    );

    // The spent token comes back: refused with the time it was spent, and
    // nothing changes.
    let t2 = t1 + Duration::seconds(30);
    let succ2 = refresh(&s, 1, t2);
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &succ2, t2)
            .await
            .unwrap(),
        Rotation::AlreadySpent(t1)
    );
    assert!(
        stored_refresh(&store, &succ2.token_hash).await.is_none(),
        "a refused rotation stores no successor"
    );
    assert_same_refresh(
        &stored_refresh(&store, &first.token_hash).await.unwrap(),
        &first_spent,
    );
    assert_same_refresh(
        &stored_refresh(&store, &succ1.token_hash).await.unwrap(),
        &succ1,
    );

    // The successor rotates in turn; the first stays spent at `t1`.
    let t3 = t2 + Duration::minutes(1);
    let succ3 = refresh(&s, 2, t3);
    assert_eq!(
        store
            .rotate_refresh_token(&succ1.token_hash, &succ3, t3)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &refresh(&s, 1, t3), t3)
            .await
            .unwrap(),
        Rotation::AlreadySpent(t1)
    );
}

pub(crate) async fn rotate_unknown_refresh_token_stores_nothing(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let existing = add_refresh(&store, &s, 0, T0).await;

    let unknown = SecretToken::generate().unwrap().hash();
    let t1 = T0 + Duration::minutes(1);
    let succ = refresh(&s, 1, t1);
    assert_eq!(
        store
            .rotate_refresh_token(&unknown, &succ, t1)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert!(
        stored_refresh(&store, &succ.token_hash).await.is_none(),
        "no successor for an unknown token"
    );
    assert!(stored_refresh(&store, &unknown).await.is_none());
    assert_same_refresh(
        &stored_refresh(&store, &existing.token_hash).await.unwrap(),
        &existing,
    );
}

pub(crate) async fn failed_rotation_leaves_the_token_live(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let first = add_refresh(&store, &s, 0, T0).await;
    let other = add_refresh(&store, &s, 5, T0).await;

    // A successor that cannot be stored (its hash is taken): the spend must
    // not happen without it.
    let t1 = T0 + Duration::minutes(1);
    let mut clash = refresh(&s, 1, t1);
    clash.token_hash = other.token_hash;
    let outcome = store
        .rotate_refresh_token(&first.token_hash, &clash, t1)
        .await;
    assert!(
        outcome.is_err(),
        "storing the successor failed, got {outcome:?}"
    );
    assert_same_refresh(
        &stored_refresh(&store, &first.token_hash).await.unwrap(),
        &first,
    );
    assert_same_refresh(
        &stored_refresh(&store, &other.token_hash).await.unwrap(),
        &other,
    );

    // So a retry with a good successor still rotates.
    let t2 = t1 + ms(1);
    let succ = refresh(&s, 1, t2);
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &succ, t2)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        stored_refresh(&store, &first.token_hash)
            .await
            .unwrap()
            .spent_at,
        Some(t2)
    );
}

pub(crate) async fn concurrent_rotations_of_one_token_rotate_once(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    warm_up(&store).await;
    for round in 0..ROUNDS {
        let s = add_session(&store, &alice, T0, TTL).await;
        let first = add_refresh(&store, &s, 0, T0).await;

        // Each racer brings its own successor and its own time, so the
        // winner can be told apart in what is stored and in what the losers
        // are told.
        let at = |i: i64| T0 + Duration::minutes(1) + ms(i);
        let successors: Vec<_> = (0..RACERS).map(|i| refresh(&s, 1, at(i))).collect();
        let outcomes = race(|i| {
            let store = store.clone();
            let succ = successors[usize::try_from(i).unwrap()].clone();
            let spent = first.token_hash;
            async move {
                store
                    .rotate_refresh_token(&spent, &succ, at(i))
                    .await
                    .expect("rotate_refresh_token")
            }
        })
        .await;

        let winners: Vec<i64> = (0..RACERS)
            .zip(&outcomes)
            .filter(|(_, o)| **o == Rotation::Rotated)
            .map(|(i, _)| i)
            .collect();
        let [winner] = winners[..] else {
            panic!("round {round}: exactly one rotation must win: {outcomes:?}");
        };
        for (i, outcome) in (0..RACERS).zip(&outcomes) {
            if i != winner {
                assert_eq!(
                    *outcome,
                    Rotation::AlreadySpent(at(winner)),
                    "round {round}: racer {i} is told when the winner spent it"
                );
            }
        }

        assert_eq!(
            stored_refresh(&store, &first.token_hash)
                .await
                .unwrap()
                .spent_at,
            Some(at(winner))
        );
        for (i, succ) in (0..RACERS).zip(&successors) {
            let got = stored_refresh(&store, &succ.token_hash).await;
            if i == winner {
                assert_same_refresh(&got.expect("the winner's successor is stored"), succ);
            } else {
                assert!(
                    got.is_none(),
                    "round {round}: racer {i}'s successor must not be stored"
                );
            }
        }
    }
}

pub(crate) async fn deleting_a_session_deletes_its_refresh_tokens(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let short = add_session(&store, &alice, T0, Duration::minutes(5)).await;
    let long = add_session(&store, &alice, T0, TTL).await;

    let spent = add_refresh(&store, &short, 0, T0).await;
    let live = refresh(&short, 1, T0 + Duration::minutes(1));
    assert_eq!(
        store
            .rotate_refresh_token(&spent.token_hash, &live, T0 + Duration::minutes(1))
            .await
            .unwrap(),
        Rotation::Rotated
    );
    let kept = add_refresh(&store, &long, 0, T0).await;
    for r in [&spent, &live, &kept] {
        assert!(stored_refresh(&store, &r.token_hash).await.is_some());
    }

    assert_eq!(
        store
            .delete_expired_sessions(T0 + Duration::minutes(10))
            .await
            .unwrap(),
        1
    );
    assert!(!is_stored(&store, &short.token_hash).await);
    assert!(
        stored_refresh(&store, &spent.token_hash).await.is_none(),
        "spent token of a deleted session"
    );
    assert!(
        stored_refresh(&store, &live.token_hash).await.is_none(),
        "live token of a deleted session"
    );
    assert_same_refresh(
        &stored_refresh(&store, &kept.token_hash).await.unwrap(),
        &kept,
    );
}

// --- generations -----------------------------------------------------------

pub(crate) async fn advance_generation_moves_only_from_the_current_one(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let s = add_session(&store, &alice, T0, TTL).await;
    let other = add_session(&store, &alice, T0, TTL).await;

    let t1 = T0 + Duration::minutes(2) + ms(3);
    assert!(store.advance_generation(s.id, 0, t1).await.unwrap());
    let mut expected = s.clone();
    expected.generation = 1;
    expected.renewed_at = Some(t1);
    expected.last_seen_at = t1;
    assert_same_session(&stored(&store, &s.token_hash).await, &expected);

    // From a stale generation, or one not reached yet: refused, unchanged.
    let t2 = t1 + Duration::minutes(1);
    for from in [0, 2, -1] {
        assert!(
            !store.advance_generation(s.id, from, t2).await.unwrap(),
            "advance from {from} at generation 1"
        );
        assert_same_session(&stored(&store, &s.token_hash).await, &expected);
    }

    // From the current one again.
    assert!(store.advance_generation(s.id, 1, t2).await.unwrap());
    expected.generation = 2;
    expected.renewed_at = Some(t2);
    expected.last_seen_at = t2;
    let (got, _) = store.session_by_id(s.id).await.unwrap().unwrap();
    assert_same_session(&got, &expected);

    assert!(
        !store
            .advance_generation(SessionId::new(), 0, t2)
            .await
            .unwrap(),
        "unknown session"
    );
    assert_same_session(&stored(&store, &other.token_hash).await, &other);
}

pub(crate) async fn advance_generation_refuses_ended_sessions(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    let now = T0 + Duration::minutes(10);

    let revoked = add_session(&store, &alice, T0, TTL).await;
    assert!(
        store
            .revoke_session(
                alice.id,
                revoked.id,
                T0 + Duration::minutes(1),
                RevocationReason::Logout
            )
            .await
            .unwrap()
    );
    let revoked = stored(&store, &revoked.token_hash).await;
    // Expired long ago, and expiring exactly at `now`.
    let long_gone = add_session(&store, &alice, T0, Duration::minutes(1)).await;
    let at_boundary = add_session(&store, &alice, T0, Duration::minutes(10)).await;

    for (s, what) in [
        (&revoked, "revoked"),
        (&long_gone, "long expired"),
        (&at_boundary, "expiring exactly now"),
    ] {
        assert!(
            !store.advance_generation(s.id, 0, now).await.unwrap(),
            "{what} session"
        );
        assert_same_session(&stored(&store, &s.token_hash).await, s);
    }

    // One millisecond before its end, a session is still live.
    let last_ms = add_session(&store, &alice, T0, Duration::minutes(10) + ms(1)).await;
    assert!(store.advance_generation(last_ms.id, 0, now).await.unwrap());
    assert_eq!(stored(&store, &last_ms.token_hash).await.generation, 1);
}

pub(crate) async fn concurrent_generation_advances_advance_once(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;
    warm_up(&store).await;
    for round in 0..ROUNDS {
        let s = add_session(&store, &alice, T0, TTL).await;

        let at = |i: i64| T0 + Duration::minutes(1) + ms(i);
        let outcomes = race(|i| {
            let store = store.clone();
            let id = s.id;
            async move {
                store
                    .advance_generation(id, 0, at(i))
                    .await
                    .expect("advance_generation")
            }
        })
        .await;

        let winners: Vec<i64> = (0..RACERS)
            .zip(&outcomes)
            .filter(|(_, won)| **won)
            .map(|(i, _)| i)
            .collect();
        let [winner] = winners[..] else {
            panic!("round {round}: exactly one advance from 0 must win: {outcomes:?}");
        };
        let mut expected = s.clone();
        expected.generation = 1;
        expected.renewed_at = Some(at(winner));
        expected.last_seen_at = at(winner);
        assert_same_session(&stored(&store, &s.token_hash).await, &expected);
    }
}

pub(crate) async fn generation_and_renewed_at_round_trip(store: Arc<dyn Store>) {
    let alice = add_user(&store, "Alice").await;

    let mut renewed = session(&alice, T0, TTL);
    renewed.generation = 7;
    renewed.renewed_at = Some(T0 + Duration::minutes(42) + ms(1));
    let mut large = session(&alice, T0, TTL);
    large.generation = 1 << 40;
    large.renewed_at = Some(T0 + ms(999));
    for s in [&renewed, &large] {
        store.create_session(s).await.unwrap();
    }

    for expected in [&renewed, &large] {
        assert_same_session(&stored(&store, &expected.token_hash).await, expected);
        let (got, _) = store.session_by_id(expected.id).await.unwrap().unwrap();
        assert_same_session(&got, expected);
    }
}

// --- keys ------------------------------------------------------------------

pub(crate) async fn rotate_key_retires_every_signer(store: Arc<dyn Store>) {
    // On an empty store, a rotation only adds the signer.
    let first = key(T0);
    store.rotate_key(&first, T0).await.unwrap();
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_same_key(&keys[0], &first);

    // A key retired long ago, and a second signer next to the first (an
    // overlap a crash could leave).
    let mut old = key(T0 - Duration::days(10));
    old.retired_at = Some(T0 - Duration::days(9));
    store.insert_key(&old).await.unwrap();
    let second = key(T0 + Duration::days(1));
    store.insert_key(&second).await.unwrap();

    let at = T0 + Duration::days(2) + ms(5);
    let new = key(at);
    store.rotate_key(&new, at).await.unwrap();
    let mut first_retired = first.clone();
    first_retired.retired_at = Some(at);
    let mut second_retired = second.clone();
    second_retired.retired_at = Some(at);
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 4);
    for (got, expected) in keys
        .iter()
        .zip([&old, &first_retired, &second_retired, &new])
    {
        assert_same_key(got, expected);
    }

    // Twice in a row: exactly one signer, the newest; earlier retirements
    // keep their times.
    let at2 = at + ms(1);
    let newer = key(at2);
    store.rotate_key(&newer, at2).await.unwrap();
    let keys = store.keys().await.unwrap();
    let signers: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(signers.len(), 1, "exactly one unretired key: {keys:?}");
    assert_same_key(signers[0], &newer);
    let mut new_retired = new.clone();
    new_retired.retired_at = Some(at2);
    assert_eq!(keys.len(), 5);
    for (got, expected) in
        keys.iter()
            .zip([&old, &first_retired, &second_retired, &new_retired, &newer])
    {
        assert_same_key(got, expected);
    }
}
