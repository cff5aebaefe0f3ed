//! What a storage backend provides. Narrow traits, so each use case asks
//! for the slice it needs; [`Store`] bundles them for wiring.
//!
//! Backends are used as `Arc<dyn Store>`: the binary picks one at start from
//! the database URL and nothing above it knows which.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    error::StoreError,
    event::{EventCursor, SecurityEvent},
    ids::{SessionId, UserId},
    keys::SigningKey,
    secret::TokenHash,
    session::{ClientContext, RevocationReason, Session},
    user::{User, Username},
};

/// Users and their password hashes.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; [`StoreError::Conflict`] when the username's
    /// case-insensitive key is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// Finds a user by [`Username::key`].
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// Replaces a user's password hash (rehash on login, password change).
    async fn set_password_hash(&self, user: UserId, phc: &str) -> Result<(), StoreError>;
}

/// Sessions, found by the hash of their credential.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a new session.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose credential hashes to `hash`, with its owner's
    /// username, whatever its state (the caller tells revoked from unknown).
    async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Username)>, StoreError>;
    /// The session with public id `id`, with its owner's username,
    /// whatever its state.
    async fn session_by_id(&self, id: SessionId)
    -> Result<Option<(Session, Username)>, StoreError>;
    /// A user's sessions that are neither revoked nor expired at `now`,
    /// newest first.
    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StoreError>;
    /// Records a request on the session: its time (which only moves
    /// forward) and, when the caller knows it, the address and agent it
    /// came from (an unknown address leaves the last known one).
    async fn touch_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
        context: Option<&ClientContext>,
    ) -> Result<(), StoreError>;
    /// Revokes one active session of `user`; `false` if there is none with
    /// that id (or it belongs to someone else, or has already ended).
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<bool, StoreError>;
    /// Revokes every active session of `user` except `keep`; returns the
    /// ids of those it revoked.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// Sessions revoked at or after `since`, with their revocation times:
    /// how a node learns of revocations made elsewhere.
    async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError>;
    /// Deletes sessions that expired before `before`; returns how many.
    async fn delete_expired_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A refresh token as stored: only its hash, bound to its session.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// The session it refreshes.
    pub session_id: SessionId,
    /// 0 for the token issued at login, one more for each rotation.
    pub generation: i64,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it was exchanged for its successor, if it has been.
    pub spent_at: Option<OffsetDateTime>,
}

/// What became of an attempt to spend a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was live; it is now spent and the successor is stored.
    Rotated,
    /// It had been spent already, at this time.
    AlreadySpent(OffsetDateTime),
    /// No such token.
    Unknown,
}

/// Refresh tokens (`access-refresh`) and token generations (`auto-refresh`).
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Stores a new refresh token.
    async fn create_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError>;
    /// The token whose hash is `hash`.
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, StoreError>;
    /// Atomically spends `spent` and stores `successor`; of concurrent calls
    /// with the same `spent`, exactly one gets [`Rotation::Rotated`].
    async fn rotate_refresh_token(
        &self,
        spent: &TokenHash,
        successor: &RefreshRecord,
        at: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;
    /// Advances a live session's generation from `from` to `from + 1`;
    /// `false` if the session is not live or is not at generation `from`.
    async fn advance_generation(
        &self,
        session: SessionId,
        from: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Signing keys for the JWT strategies.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a key.
    async fn insert_key(&self, key: &SigningKey) -> Result<(), StoreError>;
    /// Retires every signing key at `at` and adds `key` as the new signer,
    /// in one transaction.
    async fn rotate_key(&self, key: &SigningKey, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<SigningKey>, StoreError>;
}

/// The security log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends an event.
    async fn record_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    /// Up to `limit` of `user`'s events older than `after` (all if `None`),
    /// newest first.
    async fn events(
        &self,
        user: UserId,
        after: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>, StoreError>;
    /// Deletes events from before `before`; returns how many.
    async fn delete_events_before(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A complete backend.
#[async_trait]
pub trait Store:
    UserStore + SessionStore + RefreshStore + KeyStore + EventStore + std::fmt::Debug
{
    /// Brings the schema up to date. Safe to run on every start.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}
