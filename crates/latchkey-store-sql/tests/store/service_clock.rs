//! `AuthService` over a real SQLite store, with time moved by a
//! `ManualClock` instead of slept through.

use std::sync::Arc;

use latchkey_core::{
    AuthError,
    clock::ManualClock,
    ids::SessionId,
    password::{HashLimits, PasswordHasher},
    service::{AuthService, Caller, Login},
    session::{ClientContext, ClientKind, RevocationReason, SessionPolicy},
    store::Store,
    strategy::StrategyConfig,
    user::Username,
};
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::{
    fixtures::{ids, is_stored, stored},
    sqlite::{SqliteBackend, migrated_store},
};

/// The clock's start: deliberately not on a millisecond, so the service's
/// truncation to store precision is exercised too.
const START: OffsetDateTime = datetime!(2030-06-01 12:00:00.123456789 UTC);
/// `START` at store precision: what the service records for "now".
const START_MS: OffsetDateTime = datetime!(2030-06-01 12:00:00.123 UTC);
const PASSWORD: &str = "correct horse battery staple";

struct Harness {
    svc: AuthService,
    store: Arc<dyn Store>,
    clock: ManualClock,
    policy: SessionPolicy,
    _db: SqliteBackend,
}

impl Harness {
    async fn new() -> Self {
        let (db, store) = migrated_store().await;
        let clock = ManualClock::new(START);
        let policy = SessionPolicy::default();
        let svc = AuthService::start(
            store.clone(),
            PasswordHasher::new(HashLimits::default()).expect("hasher"),
            Arc::new(clock.clone()),
            policy,
            StrategyConfig::default(),
        )
        .await
        .expect("service");
        Self {
            svc,
            store,
            clock,
            policy,
            _db: db,
        }
    }

    async fn register(&self, name: &str) {
        self.svc.register(name, PASSWORD).await.expect("register");
    }

    async fn login(&self, name: &str) -> Login {
        self.login_as(name, ClientKind::Web).await
    }

    async fn login_as(&self, name: &str, client: ClientKind) -> Login {
        self.svc
            .login(name, PASSWORD, client, context())
            .await
            .expect("login")
    }

    async fn auth(&self, login: &Login) -> Result<Caller, AuthError> {
        self.svc
            .authenticate(&login.credentials.access, Some(&context()))
            .await
    }

    /// The session of `login` as the store holds it now.
    async fn stored_last_seen(&self, login: &Login) -> OffsetDateTime {
        stored(&self.store, &login.session.token_hash)
            .await
            .last_seen_at
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Where every request of these tests comes from.
fn context() -> ClientContext {
    ClientContext::new(Some([203, 0, 113, 9].into()), Some("test-agent/1"))
}

#[track_caller]
fn assert_unauthenticated(r: Result<Caller, AuthError>, when: &str) {
    assert!(
        matches!(r, Err(AuthError::Unauthenticated)),
        "{when}: expected Unauthenticated, got {r:?}"
    );
}

#[track_caller]
fn assert_revoked(r: Result<Caller, AuthError>, when: &str) {
    assert!(
        matches!(r, Err(AuthError::SessionRevoked)),
        "{when}: expected SessionRevoked, got {r:?}"
    );
}

#[tokio::test]
async fn session_expires_exactly_at_ttl() {
    let h = Harness::new().await;
    h.register("alice").await;
    let login = h.login("alice").await;
    assert_eq!(login.session.created_at, START_MS);
    assert_eq!(login.session.expires_at, START_MS + h.policy.ttl);

    let caller = h.auth(&login).await.expect("fresh session");
    assert_eq!(caller.session_id, login.session.id);

    h.advance(h.policy.ttl - Duration::milliseconds(1));
    let caller = h.auth(&login).await.expect("1 ms before expiry");
    assert_eq!(caller.session_id, login.session.id);

    h.advance(Duration::milliseconds(1));
    assert_unauthenticated(h.auth(&login).await, "at expiry");
    h.advance(Duration::days(1));
    assert_unauthenticated(h.auth(&login).await, "a day after expiry");
    // Expired, not revoked: nobody marked it.
    assert_eq!(
        stored(&h.store, &login.session.token_hash).await.revoked_at,
        None
    );
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let h = Harness::new().await;
    assert_eq!(h.policy.touch_interval, Duration::minutes(1));
    h.register("alice").await;
    let login = h.login("alice").await;
    assert_eq!(h.stored_last_seen(&login).await, START_MS);

    h.advance(Duration::seconds(30));
    h.auth(&login).await.unwrap();
    assert_eq!(
        h.stored_last_seen(&login).await,
        START_MS,
        "30 s: unchanged"
    );

    h.advance(Duration::seconds(29) + Duration::milliseconds(999));
    h.auth(&login).await.unwrap();
    assert_eq!(
        h.stored_last_seen(&login).await,
        START_MS,
        "59.999 s: unchanged"
    );

    h.advance(Duration::milliseconds(1));
    let at_60 = START_MS + Duration::seconds(60);
    h.auth(&login).await.unwrap();
    assert_eq!(h.stored_last_seen(&login).await, at_60, "60 s: written");

    // The interval now runs from the last write.
    h.advance(Duration::seconds(30));
    h.auth(&login).await.unwrap();
    assert_eq!(h.stored_last_seen(&login).await, at_60, "90 s: unchanged");

    h.advance(Duration::seconds(31));
    let at_121 = START_MS + Duration::seconds(121);
    h.auth(&login).await.unwrap();
    assert_eq!(h.stored_last_seen(&login).await, at_121, "121 s: written");
}

#[tokio::test]
async fn revoked_session_stays_revoked_after_expiry() {
    let h = Harness::new().await;
    h.register("alice").await;
    let login = h.login("alice").await;
    let caller = h.auth(&login).await.unwrap();

    h.advance(Duration::minutes(5));
    h.svc.logout(&caller).await.unwrap();
    assert_revoked(h.auth(&login).await, "after logout");
    let s = stored(&h.store, &login.session.token_hash).await;
    assert_eq!(s.revoked_at, Some(START_MS + Duration::minutes(5)));
    assert_eq!(s.revoked_reason, Some(RevocationReason::Logout));

    // Revocation wins over expiry while the row exists.
    h.advance(h.policy.ttl);
    assert_revoked(h.auth(&login).await, "after logout and expiry");
}

#[tokio::test]
async fn logout_all_revokes_every_session() {
    let h = Harness::new().await;
    h.register("alice").await;
    h.register("bob").await;
    let logins = [
        h.login_as("alice", ClientKind::Web).await,
        h.login_as("alice", ClientKind::Mobile).await,
        h.login_as("Alice", ClientKind::Web).await,
    ];
    let bobs = h.login("bob").await;

    h.advance(Duration::minutes(1));
    let caller = h.auth(&logins[1]).await.unwrap();
    assert_eq!(h.svc.sessions(&caller).await.unwrap().len(), 3);
    assert_eq!(h.svc.logout_all(&caller).await.unwrap(), 3);

    for (i, login) in logins.iter().enumerate() {
        assert_revoked(h.auth(login).await, &format!("alice's session {i}"));
        let s = stored(&h.store, &login.session.token_hash).await;
        assert_eq!(s.revoked_reason, Some(RevocationReason::LogoutAll));
    }
    assert!(h.svc.sessions(&caller).await.unwrap().is_empty());
    // Bob is unaffected.
    let bob = h.auth(&bobs).await.expect("bob's session is still live");
    assert_eq!(
        ids(&h.svc.sessions(&bob).await.unwrap()),
        vec![bobs.session.id]
    );
}

#[tokio::test]
async fn revoking_someone_elses_session_is_not_found() {
    let h = Harness::new().await;
    h.register("alice").await;
    h.register("bob").await;
    let alice1 = h.login("alice").await;
    h.advance(Duration::seconds(1));
    let alice2 = h.login("alice").await;
    let bobs = h.login("bob").await;
    let alice = h.auth(&alice1).await.unwrap();

    let r = h.svc.revoke_session(&alice, bobs.session.id).await;
    assert!(
        matches!(r, Err(AuthError::NotFound)),
        "bob's session: {r:?}"
    );
    h.auth(&bobs).await.expect("bob's session is still live");
    assert_eq!(
        stored(&h.store, &bobs.session.token_hash).await.revoked_at,
        None
    );

    let r = h.svc.revoke_session(&alice, SessionId::new()).await;
    assert!(matches!(r, Err(AuthError::NotFound)), "unknown id: {r:?}");

    // Her own other session: revoked, once.
    h.svc
        .revoke_session(&alice, alice2.session.id)
        .await
        .expect("own session");
    assert_revoked(h.auth(&alice2).await, "alice's revoked session");
    assert_eq!(
        stored(&h.store, &alice2.session.token_hash)
            .await
            .revoked_reason,
        Some(RevocationReason::User)
    );
    let r = h.svc.revoke_session(&alice, alice2.session.id).await;
    assert!(matches!(r, Err(AuthError::NotFound)), "twice: {r:?}");
    h.auth(&alice1).await.expect("the caller's session is live");
}

#[tokio::test]
async fn login_failures_are_invalid_credentials() {
    let h = Harness::new().await;
    h.register("Alice").await;

    let ctx = ClientContext::default;
    let unknown = h
        .svc
        .login("mallory", PASSWORD, ClientKind::Web, ctx())
        .await;
    assert!(
        matches!(unknown, Err(AuthError::InvalidCredentials)),
        "unknown user: {unknown:?}"
    );
    let wrong = h
        .svc
        .login(
            "Alice",
            "correct horse battery stapler",
            ClientKind::Web,
            ctx(),
        )
        .await;
    assert!(
        matches!(wrong, Err(AuthError::InvalidCredentials)),
        "wrong password: {wrong:?}"
    );
    let unparsable = h
        .svc
        .login("has space", PASSWORD, ClientKind::Web, ctx())
        .await;
    assert!(
        matches!(unparsable, Err(AuthError::InvalidCredentials)),
        "invalid username: {unparsable:?}"
    );

    // No session was made by the failures; the right password in another
    // case logs in, under the registered display name.
    let user = h
        .store
        .user_by_username(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        h.store
            .active_sessions(user.id, h.svc.now())
            .await
            .unwrap()
            .is_empty()
    );
    let login = h.login("aLICE").await;
    assert_eq!(login.username.as_str(), "Alice");
    let caller = h.auth(&login).await.unwrap();
    assert_eq!(caller.username.as_str(), "Alice");
    assert_eq!(caller.user_id, user.id);
}

#[tokio::test]
async fn register_case_variant_is_username_taken() {
    let h = Harness::new().await;
    let alice = h.svc.register("Alice", PASSWORD).await.unwrap();
    assert_eq!(alice.created_at, START_MS);

    for variant in ["Alice", "aLICE", "  alice  "] {
        let r = h.svc.register(variant, "another password entirely").await;
        assert!(
            matches!(r, Err(AuthError::UsernameTaken)),
            "{variant:?}: {r:?}"
        );
    }
    // The original password still works: nothing was overwritten.
    h.login("alice").await;
}

#[tokio::test]
async fn concurrent_case_variant_registrations_make_one_account() {
    let h = Harness::new().await;
    // Both usually pass the "is it taken?" check before either inserts, so
    // the loser is refused by the store's uniqueness rule; whichever way
    // the race goes, the answer must be the same.
    let (a, b) = tokio::join!(
        h.svc.register("Alice", PASSWORD),
        h.svc.register("aLICE", PASSWORD)
    );
    let (winner, loser) = match (a, b) {
        (Ok(user), Err(e)) | (Err(e), Ok(user)) => (user, e),
        (a, b) => panic!("expected one success and one refusal, got {a:?} and {b:?}"),
    };
    assert!(
        matches!(loser, AuthError::UsernameTaken),
        "loser: {loser:?}"
    );
    let login = h.login("alice").await;
    assert_eq!(login.session.user_id, winner.id);
}

#[tokio::test]
async fn sweep_expired_removes_only_expired_sessions() {
    let h = Harness::new().await;
    h.register("alice").await;
    let old = h.login("alice").await;
    h.advance(Duration::days(10));
    let newer = h.login("alice").await;
    let revoked = h.login("alice").await;
    let caller = h.auth(&newer).await.unwrap();
    h.svc
        .revoke_session(&caller, revoked.session.id)
        .await
        .unwrap();

    assert_eq!(
        h.svc.sweep_expired().await.unwrap(),
        0,
        "nothing expired yet"
    );

    // Exactly the first session's expiry.
    h.advance(h.policy.ttl - Duration::days(10));
    assert_eq!(h.svc.sweep_expired().await.unwrap(), 1);
    assert!(!is_stored(&h.store, &old.session.token_hash).await);
    assert_unauthenticated(h.auth(&old).await, "swept session");
    h.auth(&newer).await.expect("newer session is live");
    assert_revoked(h.auth(&revoked).await, "revoked, unexpired, kept");

    // Once the rest expire, they go too, revoked or not.
    h.advance(Duration::days(10));
    assert_eq!(h.svc.sweep_expired().await.unwrap(), 2);
    assert_unauthenticated(h.auth(&revoked).await, "swept revoked session");
    assert_unauthenticated(h.auth(&newer).await, "swept session");
}

#[tokio::test]
async fn every_login_makes_a_new_session() {
    let h = Harness::new().await;
    h.register("alice").await;
    let first = h.login("alice").await;
    h.advance(Duration::seconds(1));
    let second = h.login("alice").await;

    assert_ne!(first.session.id, second.session.id);
    assert_ne!(first.credentials.access, second.credentials.access);
    assert!(first.session.token_hash != second.session.token_hash);
    assert!(first.session.csrf_token != second.session.csrf_token);

    let a = h.auth(&first).await.unwrap();
    let b = h.auth(&second).await.unwrap();
    assert_eq!(a.session_id, first.session.id);
    assert_eq!(b.session_id, second.session.id);
    assert_eq!(a.user_id, b.user_id);
    assert_eq!(
        ids(&h.svc.sessions(&a).await.unwrap()),
        vec![second.session.id, first.session.id],
        "both live, newest first"
    );
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_at_the_next_login() {
    use latchkey_core::{
        ids::UserId,
        password::HashParams,
        user::{Password, User},
    };
    let h = Harness::new().await;
    let weak = PasswordHasher::with_params(
        HashParams::new(1024, 1, 1, None).expect("params"),
        HashLimits::default(),
    )
    .expect("hasher");
    let old = weak
        .hash(&Password::parse_new(PASSWORD).unwrap())
        .await
        .unwrap();
    assert!(old.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{old}");
    let name = Username::parse("legacy").unwrap();
    let user = User {
        id: UserId::new(),
        username: name.clone(),
        password_hash: old.clone(),
        created_at: START_MS,
    };
    h.store.create_user(&user).await.unwrap();

    // A failed login changes nothing; a successful one upgrades the hash.
    let wrong = h
        .svc
        .login(
            "legacy",
            "wrong password",
            ClientKind::Web,
            ClientContext::default(),
        )
        .await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    let unchanged = h.store.user_by_username(&name).await.unwrap().unwrap();
    assert_eq!(unchanged.password_hash, old);

    h.login("legacy").await;
    let upgraded = h.store.user_by_username(&name).await.unwrap().unwrap();
    assert!(
        upgraded
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        upgraded.password_hash
    );
    // And the new hash still verifies.
    h.login("legacy").await;
}

#[tokio::test]
async fn full_pages_of_events_still_lead_to_the_older_ones() {
    use latchkey_core::event::{EventKind, MAX_PAGE, SecurityEvent};
    let h = Harness::new().await;
    h.register("alice").await;
    let login = h.login("alice").await;
    let caller = h.auth(&login).await.expect("caller");
    // The login's own event, and 150 more, a millisecond apart.
    for i in 0..150 {
        let at = START_MS - Duration::milliseconds(i + 1);
        h.store
            .record_event(&SecurityEvent::new(
                caller.user_id,
                EventKind::LoginFailed,
                at,
                None,
            ))
            .await
            .expect("record");
    }
    let (first, next) = h.svc.events(&caller, None, MAX_PAGE).await.expect("page");
    assert_eq!(first.len(), MAX_PAGE as usize);
    assert_eq!(first[0].kind, EventKind::LoginSucceeded);
    let (second, last) = h
        .svc
        .events(&caller, Some(next.expect("a next page")), MAX_PAGE)
        .await
        .expect("page");
    assert_eq!(second.len(), 51);
    assert_eq!(last, None);
    assert!(second.iter().all(|e| e.at < first[99].at));
}

#[tokio::test]
async fn events_past_their_retention_are_swept() {
    use latchkey_core::event::{EventKind, EventPolicy};
    let h = Harness::new().await;
    h.svc.set_event_policy(EventPolicy {
        retention: Duration::days(1),
    });
    h.register("alice").await;
    let first = h.login("alice").await;
    h.advance(Duration::hours(25));
    let second = h.login("alice").await;
    let caller = h.auth(&second).await.expect("caller");
    h.svc.sweep_expired().await.expect("sweep");
    let (events, _) = h.svc.events(&caller, None, 10).await.expect("events");
    let sessions: Vec<_> = events.iter().map(|e| e.session_id).collect();
    assert_eq!(sessions, [Some(second.session.id)], "{events:?}");
    assert!(events.iter().all(|e| e.kind == EventKind::LoginSucceeded));
    drop(first);
}
