//! What each strategy reads from the store per request, counted by a store
//! wrapper: the contract's table promises that `access-refresh` and
//! `auto-refresh` check a live token without the store, and that
//! `session` and `stateful-jwt` read the session record through a cache.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use latchkey_core::{
    StoreError,
    clock::SystemClock,
    error::AuthError,
    event::{EventCursor, SecurityEvent},
    ids::{SessionId, UserId},
    keys::SigningKey,
    password::{HashLimits, PasswordHasher},
    secret::TokenHash,
    service::AuthService,
    session::{ClientContext, ClientKind, RevocationReason, Session, SessionPolicy},
    store::{
        EventStore, KeyStore, RefreshRecord, RefreshStore, Rotation, SessionStore, Store, UserStore,
    },
    strategy::{Strategy, StrategyConfig},
    user::{User, Username},
};
use time::OffsetDateTime;

use crate::sqlite::{SqliteBackend, migrated_store};

/// Counts every call into the store it wraps, and remembers which.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Store>,
    calls: AtomicUsize,
    names: Mutex<Vec<&'static str>>,
}

impl Counting {
    fn hit(&self, name: &'static str) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name);
    }

    /// The calls made since the last time this was asked.
    fn take_names(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.names.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl UserStore for Counting {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.hit("create_user");
        self.inner.create_user(user).await
    }
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.hit("user_by_username");
        self.inner.user_by_username(username).await
    }
    async fn set_password_hash(&self, user: UserId, phc: &str) -> Result<(), StoreError> {
        self.hit("set_password_hash");
        self.inner.set_password_hash(user, phc).await
    }
}

#[async_trait]
impl SessionStore for Counting {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.hit("create_session");
        self.inner.create_session(session).await
    }
    async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Username)>, StoreError> {
        self.hit("session_by_token");
        self.inner.session_by_token(hash).await
    }
    async fn session_by_id(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Username)>, StoreError> {
        self.hit("session_by_id");
        self.inner.session_by_id(id).await
    }
    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        self.hit("active_sessions");
        self.inner.active_sessions(user, now).await
    }
    async fn touch_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
        context: Option<&ClientContext>,
    ) -> Result<(), StoreError> {
        self.hit("touch_session");
        self.inner.touch_session(id, at, context).await
    }
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<bool, StoreError> {
        self.hit("revoke_session");
        self.inner.revoke_session(user, id, at, reason).await
    }
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.hit("revoke_user_sessions");
        self.inner
            .revoke_user_sessions(user, keep, at, reason)
            .await
    }
    async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError> {
        self.hit("revocations_since");
        self.inner.revocations_since(since).await
    }
    async fn delete_expired_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.hit("delete_expired_sessions");
        self.inner.delete_expired_sessions(before).await
    }
}

#[async_trait]
impl RefreshStore for Counting {
    async fn create_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        self.hit("create_refresh_token");
        self.inner.create_refresh_token(record).await
    }
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, StoreError> {
        self.hit("refresh_token");
        self.inner.refresh_token(hash).await
    }
    async fn rotate_refresh_token(
        &self,
        spent: &TokenHash,
        successor: &RefreshRecord,
        at: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.hit("rotate_refresh_token");
        self.inner.rotate_refresh_token(spent, successor, at).await
    }
    async fn advance_generation(
        &self,
        session: SessionId,
        from: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.hit("advance_generation");
        self.inner.advance_generation(session, from, at).await
    }
}

#[async_trait]
impl KeyStore for Counting {
    async fn insert_key(&self, key: &SigningKey) -> Result<(), StoreError> {
        self.hit("insert_key");
        self.inner.insert_key(key).await
    }
    async fn rotate_key(&self, key: &SigningKey, at: OffsetDateTime) -> Result<(), StoreError> {
        self.hit("rotate_key");
        self.inner.rotate_key(key, at).await
    }
    async fn keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        self.hit("keys");
        self.inner.keys().await
    }
}

#[async_trait]
impl EventStore for Counting {
    async fn record_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        self.hit("record_event");
        self.inner.record_event(event).await
    }
    async fn events(
        &self,
        user: UserId,
        after: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        self.hit("events");
        self.inner.events(user, after, limit).await
    }
    async fn delete_events_before(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.hit("delete_events_before");
        self.inner.delete_events_before(before).await
    }
}

#[async_trait]
impl Store for Counting {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.hit("ping");
        self.inner.ping().await
    }
}

/// The client every session here signs in from.
fn phone() -> ClientContext {
    ClientContext::new(
        Some([203, 0, 113, 9].into()),
        Some("latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)"),
    )
}

/// A service of `strategy` over a counting store, and a live credential.
async fn signed_in(strategy: Strategy) -> (SqliteBackend, Arc<Counting>, AuthService, String) {
    let (db, inner) = migrated_store().await;
    let store = Arc::new(Counting {
        inner,
        calls: AtomicUsize::new(0),
        names: Mutex::new(Vec::new()),
    });
    let auth = AuthService::start(
        store.clone(),
        PasswordHasher::new(HashLimits::default()).expect("hasher"),
        Arc::new(SystemClock),
        SessionPolicy::default(),
        StrategyConfig {
            strategy,
            ..StrategyConfig::default()
        },
    )
    .await
    .expect("service");
    auth.register("alice", "correct horse battery staple")
        .await
        .expect("register");
    let login = auth
        .login(
            "alice",
            "correct horse battery staple",
            ClientKind::Mobile,
            phone(),
        )
        .await
        .expect("login");
    (db, store, auth, login.credentials.access)
}

/// Store calls made by `n` authentications of `credential`.
async fn reads_for(store: &Counting, auth: &AuthService, credential: &str, n: usize) -> usize {
    let before = store.calls.load(Ordering::SeqCst);
    for _ in 0..n {
        auth.authenticate(credential, Some(&phone()))
            .await
            .expect("authenticated");
    }
    store.calls.load(Ordering::SeqCst) - before
}

#[tokio::test]
async fn short_token_strategies_read_nothing_for_a_live_token() {
    for strategy in [Strategy::AccessRefresh, Strategy::AutoRefresh] {
        let (_db, store, auth, token) = signed_in(strategy).await;
        assert_eq!(reads_for(&store, &auth, &token, 100).await, 0, "{strategy}");
    }
}

#[tokio::test]
async fn stateful_jwt_reads_the_record_once_per_cache_lifetime() {
    let (_db, store, auth, token) = signed_in(Strategy::StatefulJwt).await;
    assert_eq!(reads_for(&store, &auth, &token, 100).await, 1);
}

#[tokio::test]
async fn session_strategy_reads_the_record_once_per_cache_lifetime() {
    let (_db, store, auth, token) = signed_in(Strategy::Session).await;
    assert_eq!(reads_for(&store, &auth, &token, 100).await, 1);
}

/// A revocation made on this node reaches the cached record at once.
#[tokio::test]
async fn cached_records_do_not_outlive_a_revocation() {
    for strategy in [Strategy::Session, Strategy::StatefulJwt] {
        let (_db, _store, auth, token) = signed_in(strategy).await;
        let caller = auth
            .authenticate(&token, Some(&phone()))
            .await
            .expect("authenticated");
        auth.logout(&caller).await.expect("logout");
        let after = auth.authenticate(&token, Some(&phone())).await;
        assert!(
            matches!(after, Err(AuthError::SessionRevoked)),
            "{strategy}: {after:?}"
        );
    }
}

/// A token replayed from another client is stopped under the default
/// policy, and in the JWT strategies without reading the store: the only
/// calls are the writes that revoke the session and log why.
#[tokio::test]
async fn a_replayed_token_is_refused_without_a_store_read() {
    let laptop = ClientContext::new(
        Some([198, 51, 100, 20].into()),
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    );
    for strategy in Strategy::ALL {
        let (_db, store, auth, token) = signed_in(strategy).await;
        store.take_names();
        let refused = auth.authenticate(&token, Some(&laptop)).await;
        assert!(
            matches!(refused, Err(AuthError::SessionRevoked)),
            "{strategy}: {refused:?}"
        );
        let calls = store.take_names();
        let reads: Vec<_> = calls
            .iter()
            .filter(|c| !["revoke_session", "record_event"].contains(c))
            .collect();
        let expected_reads: &[&str] = match strategy {
            Strategy::Session => &["session_by_token"],
            Strategy::StatefulJwt | Strategy::AccessRefresh | Strategy::AutoRefresh => &[],
        };
        assert_eq!(
            reads,
            expected_reads.iter().collect::<Vec<_>>(),
            "{strategy}"
        );
        assert!(calls.contains(&"revoke_session"), "{strategy}: {calls:?}");
        // And the owner's own phone is refused from now on.
        let after = auth.authenticate(&token, Some(&phone())).await;
        assert!(
            matches!(after, Err(AuthError::SessionRevoked)),
            "{strategy}: {after:?}"
        );
    }
}
