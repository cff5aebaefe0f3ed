//! Domain values to feed the stores, and field-by-field comparisons (the
//! domain types do not implement `PartialEq`).

use std::{net::IpAddr, sync::Arc};

use latchkey_core::{
    csrf::CsrfToken,
    ids::{SessionId, UserId},
    keys::{KeyAlgorithm, SigningKey},
    secret::{SecretToken, TokenHash},
    session::{ClientKind, Session},
    store::{RefreshRecord, Store},
    user::{User, Username},
};
use time::{Duration, OffsetDateTime, macros::datetime};

/// A fixed instant with a millisecond part, the precision stores keep.
pub(crate) const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.678 UTC);

/// Lifetime of the sessions the conformance suite makes unless told otherwise.
pub(crate) const TTL: Duration = Duration::hours(1);

/// A user named `name`, made at [`T0`], with a placeholder hash (stores do
/// not look inside it).
pub(crate) fn user(name: &str) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(name).expect("valid username"),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$placeholder-for-{name}"),
        created_at: T0,
    }
}

/// Inserts [`user`]`(name)` and returns it.
pub(crate) async fn add_user(store: &Arc<dyn Store>, name: &str) -> User {
    let u = user(name);
    store.create_user(&u).await.expect("create_user");
    u
}

/// A live web session of `owner`, made at `created_at`, living `ttl`.
pub(crate) fn session(owner: &User, created_at: OffsetDateTime, ttl: Duration) -> Session {
    Session {
        id: SessionId::new(),
        user_id: owner.id,
        token_hash: SecretToken::generate().expect("token").hash(),
        client: ClientKind::Web,
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + ttl,
        ip: None,
        user_agent: None,
        last_ip: None,
        last_user_agent: None,
        csrf_token: CsrfToken::generate().expect("csrf token"),
        revoked_at: None,
        revoked_reason: None,
        generation: 0,
        renewed_at: None,
    }
}

/// Inserts [`session`]`(owner, created_at, ttl)` and returns it.
pub(crate) async fn add_session(
    store: &Arc<dyn Store>,
    owner: &User,
    created_at: OffsetDateTime,
    ttl: Duration,
) -> Session {
    let s = session(owner, created_at, ttl);
    store.create_session(&s).await.expect("create_session");
    s
}

/// The stored copy of the session whose token hashes to `hash`; panics if
/// the store has none.
pub(crate) async fn stored(store: &Arc<dyn Store>, hash: &TokenHash) -> Session {
    store
        .session_by_token(hash)
        .await
        .expect("session_by_token")
        .expect("session is stored")
        .0
}

/// Whether the store still holds a session for `hash`.
pub(crate) async fn is_stored(store: &Arc<dyn Store>, hash: &TokenHash) -> bool {
    store
        .session_by_token(hash)
        .await
        .expect("session_by_token")
        .is_some()
}

/// The ids of `sessions`, in order.
pub(crate) fn ids(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// Asserts every field of two sessions is equal.
#[track_caller]
pub(crate) fn assert_same_session(actual: &Session, expected: &Session) {
    assert_eq!(actual.id, expected.id, "id");
    assert_eq!(actual.user_id, expected.user_id, "user_id");
    assert!(
        actual.token_hash == expected.token_hash,
        "token_hash differs"
    );
    assert_eq!(actual.client, expected.client, "client");
    assert_eq!(actual.created_at, expected.created_at, "created_at");
    assert_eq!(actual.last_seen_at, expected.last_seen_at, "last_seen_at");
    assert_eq!(actual.expires_at, expected.expires_at, "expires_at");
    assert_eq!(actual.ip, expected.ip, "ip");
    assert_eq!(actual.user_agent, expected.user_agent, "user_agent");
    assert_eq!(actual.last_ip, expected.last_ip, "last_ip");
    assert_eq!(
        actual.last_user_agent, expected.last_user_agent,
        "last_user_agent"
    );
    assert!(
        actual.csrf_token == expected.csrf_token,
        "csrf_token differs"
    );
    assert_eq!(actual.revoked_at, expected.revoked_at, "revoked_at");
    assert_eq!(
        actual.revoked_reason, expected.revoked_reason,
        "revoked_reason"
    );
    assert_eq!(actual.generation, expected.generation, "generation");
    assert_eq!(actual.renewed_at, expected.renewed_at, "renewed_at");
}

/// Asserts every field of two users is equal.
#[track_caller]
pub(crate) fn assert_same_user(actual: &User, expected: &User) {
    assert_eq!(actual.id, expected.id, "id");
    assert_eq!(actual.username, expected.username, "username");
    assert_eq!(
        actual.password_hash, expected.password_hash,
        "password_hash"
    );
    assert_eq!(actual.created_at, expected.created_at, "created_at");
}

/// A live refresh token of `session`, at `generation`, issued at
/// `created_at`, with a fresh random hash.
pub(crate) fn refresh(
    session: &Session,
    generation: i64,
    created_at: OffsetDateTime,
) -> RefreshRecord {
    RefreshRecord {
        token_hash: SecretToken::generate().expect("token").hash(),
        session_id: session.id,
        generation,
        created_at,
        spent_at: None,
    }
}

/// Inserts [`refresh`]`(session, generation, created_at)` and returns it.
pub(crate) async fn add_refresh(
    store: &Arc<dyn Store>,
    session: &Session,
    generation: i64,
    created_at: OffsetDateTime,
) -> RefreshRecord {
    let r = refresh(session, generation, created_at);
    store
        .create_refresh_token(&r)
        .await
        .expect("create_refresh_token");
    r
}

/// The stored copy of the refresh token whose hash is `hash`, if any.
pub(crate) async fn stored_refresh(
    store: &Arc<dyn Store>,
    hash: &TokenHash,
) -> Option<RefreshRecord> {
    store.refresh_token(hash).await.expect("refresh_token")
}

/// Asserts every field of two refresh records is equal.
#[track_caller]
pub(crate) fn assert_same_refresh(actual: &RefreshRecord, expected: &RefreshRecord) {
    assert!(
        actual.token_hash == expected.token_hash,
        "token_hash differs"
    );
    assert_eq!(actual.session_id, expected.session_id, "session_id");
    assert_eq!(actual.generation, expected.generation, "generation");
    assert_eq!(actual.created_at, expected.created_at, "created_at");
    assert_eq!(actual.spent_at, expected.spent_at, "spent_at");
}

/// A signing key made at `created_at` (a real Ed25519 key, so the byte
/// fields are realistic).
pub(crate) fn key(created_at: OffsetDateTime) -> SigningKey {
    SigningKey::generate(KeyAlgorithm::EdDsa, created_at).expect("signing key")
}

/// Asserts every field of two keys is equal.
#[track_caller]
pub(crate) fn assert_same_key(actual: &SigningKey, expected: &SigningKey) {
    assert_eq!(actual.kid, expected.kid, "kid");
    assert_eq!(actual.algorithm, expected.algorithm, "algorithm");
    assert_eq!(actual.private_der, expected.private_der, "private_der");
    assert_eq!(actual.public_key, expected.public_key, "public_key");
    assert_eq!(actual.created_at, expected.created_at, "created_at");
    assert_eq!(actual.retired_at, expected.retired_at, "retired_at");
}

/// An IPv6 address, to check that the store does not assume IPv4.
pub(crate) fn ipv6() -> IpAddr {
    "2001:db8::42".parse().expect("IPv6 literal")
}
