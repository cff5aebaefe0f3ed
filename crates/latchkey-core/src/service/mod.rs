//! The use cases, one method each. The HTTP layer and the CLI both go
//! through here, so a rule (expiry, revocation, rehash) lives in one place.
//!
//! - `accounts`: registration and login.
//! - `credentials`: issuing credentials and resolving them to a caller, per
//!   strategy.
//! - `sessions`: listing and ending sessions.
//! - `refresh`: `access-refresh` token rotation and reuse detection.
//! - `keys`: the signing key ring and the revocations the node follows.
//! - `security`: the session binding, anomaly policies and the security log.
//! - `instruments`: the service's metric handles.

mod accounts;
mod credentials;
mod instruments;
mod keys;
mod memo;
mod refresh;
mod security;
mod sessions;
mod settled;

use std::sync::{
    Arc, OnceLock, PoisonError, RwLock,
    atomic::{AtomicBool, Ordering},
};

use moka::sync::Cache;
use time::{Duration, OffsetDateTime};

pub use self::credentials::{Caller, Credentials, Login};
use self::{memo::Memo, security::AgentSeen};
use crate::{
    anomaly::{AnomalyKind, AnomalyPolicy, ClientBinding},
    clock::{Clock, truncate_to_millis},
    device::AgentBinding,
    error::AuthError,
    event::EventPolicy,
    feed::RevocationFeed,
    ids::SessionId,
    password::PasswordHasher,
    ratelimit::{LimitClass, MemoryLimiter, RateLimiter, RateLimits},
    revocation::DenyList,
    secret::TokenHash,
    session::{Session, SessionPolicy},
    store::Store,
    strategy::{Strategy, StrategyConfig},
    token::{Claims, KeyRing},
    user::Username,
};

/// A token whose signature verified, with its binding decoded once.
#[derive(Debug)]
struct VerifiedToken {
    claims: Claims,
    /// The caller the claims describe (no context yet), or why they do
    /// not describe one: parsed once per token, not per request.
    caller: Result<Caller, AuthError>,
    /// `None` when a binding claim does not decode: such a token cannot
    /// have been issued here, and is refused.
    binding: Option<ClientBinding>,
    /// The first agent this token's binding let through.
    seen: AgentSeen,
}

/// A session record as cached: shared by the requests that read it rather
/// than copied into each, with its binding worked out once.
#[derive(Debug)]
struct CachedRecord {
    session: Session,
    username: Username,
    binding: ClientBinding,
    seen: AgentSeen,
}

/// Hashes a [`TokenHash`] key by its first eight bytes. They are already a
/// uniformly spread digest, so hashing them again (SipHash, by default)
/// only costs time; and only credentials that proved valid are inserted,
/// so nobody can choose keys that crowd one bucket.
#[derive(Debug, Clone, Copy, Default)]
struct DigestKeys;

impl std::hash::BuildHasher for DigestKeys {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// See [`DigestKeys`].
#[derive(Debug)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` arrives as its length, then its bytes: the length
        // is the same for every key and the first eight bytes spread.
        let mut word = [0; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// latchkey's use cases over a store. Cheap to clone.
///
/// Its metrics (cache lookups, revocation lag, anomalies) are handles taken
/// from the `metrics` recorder installed when it [starts](Self::start):
/// install the recorder first, or they record nothing.
#[derive(Debug, Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    config: StrategyConfig,
    keys: RwLock<Arc<KeyRing>>,
    deny: DenyList,
    /// `session` and `stateful-jwt`: session records by id, for
    /// `cache_ttl`. Revocations on this node evict at once, and the
    /// deny-list, which every revocation reaches, is checked first.
    records: Memo<SessionId, Arc<CachedRecord>, foldhash::quality::RandomState>,
    /// `session`: which session a credential (by its hash) belongs to, for
    /// `cache_ttl`, so a live session id costs a hash and two lookups
    /// instead of a store read.
    session_tokens: Memo<TokenHash, SessionId, DigestKeys>,
    /// Tokens whose signature has been verified, by the whole token (a
    /// hit compares every byte, so no part of one token can be paired
    /// with another's), for a minute at most: a signature check costs tens
    /// of µs, a lookup well under one. Only verified tokens enter; times,
    /// the deny-list and the record are still checked on every request.
    ///
    /// Keyed by the token itself rather than a digest of it: SHA-256 of a
    /// 450-byte token, even with the CPU's SHA extensions, cost more than
    /// the rest of the lookup, while foldhash (randomly seeded) and a
    /// byte comparison cost a tenth of it. The hash needs no more than
    /// foldhash's resistance: only tokens this service signed can be
    /// inserted, so nobody can fill a bucket with keys of their choosing.
    verified: Memo<Box<str>, Arc<VerifiedToken>, foldhash::quality::RandomState>,
    /// `access-refresh`: rotations by spent token hash, for the grace
    /// period, so concurrent and repeated exchanges share one successor.
    refreshes: moka::future::Cache<TokenHash, Login>,
    /// `auto-refresh`: renewals by (session, generation), likewise.
    renewals: moka::future::Cache<(SessionId, i64), Credentials>,
    /// The shared feed, when several nodes share the store.
    feed: OnceLock<Arc<dyn RevocationFeed>>,
    /// Whether the feed is connected; while it is not, every JWT request
    /// first applies the store's revocations.
    feed_up: AtomicBool,
    /// Rate limits and where their counters live.
    limits: RwLock<(RateLimits, Arc<dyn RateLimiter>)>,
    /// The newest revocation time already applied from the store.
    revocations_seen: RwLock<OffsetDateTime>,
    /// What to do when a credential is used from another client.
    anomaly: RwLock<AnomalyPolicy>,
    /// How long the security log keeps events.
    events: RwLock<EventPolicy>,
    /// Agent bindings by user-agent string: parsing one costs far more
    /// than the rest of a JWT check, and a node sees few distinct agents.
    agents: Cache<String, AgentBinding>,
    /// Anomalies already seen on this node (counted, and logged under
    /// `log`), by session, kind and the new value, so a moved phone is one
    /// event, not one per request.
    anomalies_logged: Cache<(SessionId, AnomalyKind, String), ()>,
    /// Metric handles, taken once: the per-request path only adds to them.
    metrics: instruments::ServiceMetrics,
}

impl AuthService {
    /// Wires a service and loads what it keeps in memory: the signing keys
    /// (making one if there is none of the configured algorithm) and the
    /// revocations whose tokens may still be alive.
    pub async fn start(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
        config: StrategyConfig,
    ) -> Result<Self, AuthError> {
        let now = truncate_to_millis(clock.now());
        let cache_ttl = config.cache_ttl.try_into().unwrap_or_default();
        let records = Memo::new(100_000, cache_ttl, Default::default());
        let session_tokens = Memo::new(100_000, cache_ttl, DigestKeys);
        let verified = Memo::new(
            100_000,
            std::time::Duration::from_secs(60),
            Default::default(),
        );
        let grace: std::time::Duration = config.refresh_grace.try_into().unwrap_or_default();
        let refreshes = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(grace)
            .build();
        let renewals = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(grace)
            .build();
        let service = Self {
            inner: Arc::new(Inner {
                store,
                hasher,
                clock,
                policy,
                config,
                keys: RwLock::new(Arc::new(KeyRing::new(&[], now, Duration::ZERO)?)),
                deny: DenyList::new(),
                records,
                session_tokens,
                verified,
                refreshes,
                renewals,
                feed: OnceLock::new(),
                feed_up: AtomicBool::new(false),
                limits: RwLock::new((RateLimits::default(), Arc::new(MemoryLimiter::default()))),
                revocations_seen: RwLock::new(now),
                anomaly: RwLock::new(AnomalyPolicy::default()),
                events: RwLock::new(EventPolicy::default()),
                agents: Cache::builder().max_capacity(10_000).build(),
                anomalies_logged: Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(std::time::Duration::from_secs(3600))
                    .build(),
                metrics: instruments::ServiceMetrics::new(),
            }),
        };
        service.ensure_signing_key().await?;
        service.reload_keys().await?;
        service.load_revocations().await?;
        Ok(service)
    }

    /// The current time by the service's clock, at store precision.
    pub fn now(&self) -> OffsetDateTime {
        truncate_to_millis(self.inner.clock.now())
    }

    /// The session policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.inner.policy
    }

    /// The strategy in force.
    pub fn strategy(&self) -> Strategy {
        self.inner.config.strategy
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), AuthError> {
        Ok(self.inner.store.ping().await?)
    }

    /// Connects the node to a shared revocation feed. Until the feed reports
    /// itself up, requests check the store for revocations.
    pub fn attach_feed(&self, feed: Arc<dyn RevocationFeed>) {
        let name = feed.name();
        if self.inner.feed.set(feed).is_ok() {
            self.inner.metrics.attach_feed(name);
        }
    }

    /// The feed, if any: its name and whether it is connected.
    pub fn feed_status(&self) -> Option<(&'static str, bool)> {
        self.inner
            .feed
            .get()
            .map(|f| (f.name(), self.inner.feed_up.load(Ordering::SeqCst)))
    }

    /// Called by the feed when it connects or loses its connection.
    pub fn set_feed_up(&self, up: bool) {
        let was = self.inner.feed_up.swap(up, Ordering::SeqCst);
        let name = self.inner.feed.get().map_or("none", |f| f.name());
        metrics::gauge!("latchkey_revocation_feed_up", "feed" => name).set(f64::from(u8::from(up)));
        match (was, up) {
            (false, true) => tracing::info!(feed = name, "revocation feed connected"),
            (true, false) => tracing::warn!(
                feed = name,
                "revocation feed lost: checking the store for revocations on every request"
            ),
            _ => {}
        }
    }

    /// Whether requests must read revocations from the store first: a
    /// feed is configured but not connected.
    fn feed_down(&self) -> bool {
        self.inner.feed.get().is_some() && !self.inner.feed_up.load(Ordering::SeqCst)
    }

    /// Sets the rate limits and, for a fleet, shared counters.
    pub fn set_rate_limits(&self, limits: RateLimits, limiter: Option<Arc<dyn RateLimiter>>) {
        let mut current = self
            .inner
            .limits
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let limiter = limiter.unwrap_or_else(|| current.1.clone());
        *current = (limits, limiter);
    }

    /// Counts one request against each `(class, key)`; the first limit it
    /// exceeds is [`AuthError::RateLimited`]. Counters that cannot be
    /// reached let the request through (logged): limits slow attackers,
    /// they must not take the service down.
    pub async fn check_rates(&self, checks: &[(LimitClass, &str)]) -> Result<(), AuthError> {
        let (limits, limiter) = self
            .inner
            .limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (class, key) in checks {
            let Some(quota) = limits.quota(*class) else {
                continue;
            };
            match limiter.check(*class, quota, key).await {
                Ok(None) => {}
                Ok(Some(wait)) => {
                    metrics::counter!("latchkey_rate_limited_total", "class" => class.as_str())
                        .increment(1);
                    return Err(AuthError::RateLimited(wait));
                }
                Err(e) => tracing::warn!(error = %e, "rate limit counters unreachable"),
            }
        }
        Ok(())
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// Keys that differ anywhere in their first eight bytes hash apart;
    /// the hash does not depend on anything but the key.
    #[test]
    fn digest_keys_hash_by_their_leading_bytes() {
        let a = TokenHash([1; 32]);
        let mut b = a;
        b.0[7] = 2;
        assert_ne!(DigestKeys.hash_one(a), DigestKeys.hash_one(b));
        assert_eq!(
            DigestKeys.hash_one(a),
            DigestKeys.hash_one(TokenHash([1; 32]))
        );
    }
}
