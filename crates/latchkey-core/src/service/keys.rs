//! The signing key ring, and the revocations this node follows.

use std::sync::{Arc, PoisonError};

use time::Duration;

use super::AuthService;
use crate::{
    error::AuthError,
    keys::{KeyAlgorithm, KeyState, SigningKey},
    revocation::Revocation,
    strategy::Strategy,
    token::{Claims, KeyRing},
};

impl AuthService {
    /// The longest any token this deployment issues can live: how long a
    /// retired key must keep verifying.
    /// In `auto-refresh` an expired token is still presented (to be
    /// renewed) for as long as its session lives, so keys verify that long.
    pub fn max_token_ttl(&self) -> Duration {
        let config = &self.inner.config;
        match config.strategy {
            Strategy::Session | Strategy::StatefulJwt | Strategy::AutoRefresh => {
                self.inner.policy.ttl
            }
            Strategy::AccessRefresh => config.access_ttl,
        }
    }

    /// The longest `exp - iat` a token this configuration issues can have
    /// (JWT seconds round up by at most one). A longer one was issued under
    /// another configuration, and the deny-list, which is sized for this
    /// one, could not block it: it is refused.
    fn max_issued_lifetime(&self) -> i64 {
        let config = &self.inner.config;
        let ttl = match config.strategy {
            Strategy::Session | Strategy::StatefulJwt => self.inner.policy.ttl,
            Strategy::AccessRefresh | Strategy::AutoRefresh => config.access_ttl,
        };
        ttl.whole_seconds() + 1
    }

    /// Whether `claims` live longer than [any token this configuration
    /// issues](Self::max_issued_lifetime), or their lifetime cannot be
    /// computed: such a token is refused.
    pub(super) fn outlives_issued(&self, claims: &Claims) -> bool {
        claims
            .lifetime()
            .is_none_or(|lifetime| lifetime > self.max_issued_lifetime())
    }

    /// How long after a revocation a credential for that session could
    /// still pass without the deny-list: the access-token life, or for
    /// `session` and `stateful-jwt` the record cache's.
    pub(super) fn token_lifetime_bound(&self) -> Duration {
        let config = &self.inner.config;
        let bound = match config.strategy {
            Strategy::Session | Strategy::StatefulJwt => config.cache_ttl,
            Strategy::AccessRefresh | Strategy::AutoRefresh => config.access_ttl,
        };
        bound + config.leeway
    }

    /// Makes a signing key of the configured algorithm if no key is
    /// signing (first start); `true` if it made one.
    pub async fn ensure_signing_key(&self) -> Result<bool, AuthError> {
        if self.signer().await?.is_some() {
            return Ok(false);
        }
        self.make_signer(self.inner.config.algorithm).await?;
        Ok(true)
    }

    /// The server's start: if the signing key's algorithm is not the
    /// configured one, a key of the configured algorithm takes over (the
    /// old one verifies until its tokens expire). Admin commands never do
    /// this, so running one with other settings cannot switch algorithms.
    pub async fn align_signing_algorithm(&self) -> Result<bool, AuthError> {
        let wanted = self.inner.config.algorithm;
        if self.signer().await?.is_some_and(|k| k.algorithm == wanted) {
            return Ok(false);
        }
        self.make_signer(wanted).await?;
        self.reload_keys().await?;
        Ok(true)
    }

    async fn signer(&self) -> Result<Option<SigningKey>, AuthError> {
        let now = self.now();
        let ttl = self.max_token_ttl();
        Ok(self
            .store()
            .keys()
            .await?
            .into_iter()
            .filter(|k| k.state(now, ttl) == KeyState::Signing)
            .max_by_key(|k| k.created_at))
    }

    async fn make_signer(&self, algorithm: KeyAlgorithm) -> Result<(), AuthError> {
        let now = self.now();
        let key = SigningKey::generate(algorithm, now)?;
        self.store().rotate_key(&key, now).await?;
        tracing::info!(kid = %key.kid, %algorithm, "made a new signing key");
        Ok(())
    }

    /// Drops deny-list entries whose tokens have all expired; returns how
    /// many remain. Also brings the gauges of the deny-list's and the
    /// caches' sizes up to date (a server calls this every few seconds).
    pub fn prune_revocations(&self) -> usize {
        let left = self.inner.deny.prune(self.now());
        let metrics = &self.inner.metrics;
        // Exact: the list is bounded by one token lifetime's revocations.
        metrics.deny_list.set(left as f64);
        metrics
            .session_cache
            .entries(self.inner.records.entry_count());
        metrics
            .token_cache
            .entries(self.inner.verified.entry_count());
        left
    }

    /// `latchkey keys rotate`: a new key of the current signer's algorithm
    /// signs from now on (an algorithm change is made by configuration and
    /// a restart); the old ones verify until every token they signed has
    /// expired. Returns the new key's id.
    pub async fn rotate_key(&self) -> Result<String, AuthError> {
        let now = self.now();
        let algorithm = self
            .signer()
            .await?
            .map_or(self.inner.config.algorithm, |k| k.algorithm);
        let key = SigningKey::generate(algorithm, now)?;
        self.store().rotate_key(&key, now).await?;
        self.reload_keys().await?;
        Ok(key.kid)
    }

    /// Every key and its state.
    pub async fn list_keys(&self) -> Result<Vec<(SigningKey, KeyState)>, AuthError> {
        let now = self.now();
        let ttl = self.max_token_ttl();
        Ok(self
            .store()
            .keys()
            .await?
            .into_iter()
            .map(|k| {
                let state = k.state(now, ttl);
                (k, state)
            })
            .collect())
    }

    /// Re-reads the keys, so a rotation made by another process (the CLI,
    /// another node) is picked up without a restart.
    pub async fn reload_keys(&self) -> Result<(), AuthError> {
        let keys = self.store().keys().await?;
        let ring = KeyRing::new(&keys, self.now(), self.max_token_ttl())?;
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(())
    }

    /// The public keys for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.ring().jwks().clone()
    }

    /// Loads, at start, the revocations whose tokens may still be alive.
    pub(super) async fn load_revocations(&self) -> Result<(), AuthError> {
        let since = self.now() - self.token_lifetime_bound();
        *self
            .inner
            .revocations_seen
            .write()
            .unwrap_or_else(PoisonError::into_inner) = since;
        // Not news, however old: what a node starting up must know.
        self.apply_store_revocations(false).await.map(|_| ())
    }

    /// Applies revocations written to the store since the last call (by
    /// this process, the CLI or another node); returns how many were new.
    /// For each new one, how long after its store write it was applied
    /// here is recorded in `latchkey_revocation_feed_lag_seconds{feed="poll"}`:
    /// revocations no feed carried (the CLI's, or with no feed at all), or
    /// that the poll heard of first.
    pub async fn sync_revocations(&self) -> Result<usize, AuthError> {
        self.apply_store_revocations(true).await
    }

    async fn apply_store_revocations(&self, observe: bool) -> Result<usize, AuthError> {
        let since = *self
            .inner
            .revocations_seen
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Overlap the last poll: a revocation committed late, or stamped by
        // a node whose clock is a little behind, is still read (applying
        // one twice is harmless).
        let revoked = self
            .store()
            .revocations_since(since - Duration::seconds(5))
            .await?;
        let bound = self.token_lifetime_bound();
        let now = self.now();
        let mut newest = since;
        let mut fresh = 0;
        for (session, at) in revoked {
            self.inner.records.invalidate(&session);
            let until = at + bound;
            if !self.inner.deny.is_revoked(session, now) {
                fresh += 1;
                // One re-read by the overlap after its tokens all expired
                // is not late: it no longer matters.
                if observe && now < until {
                    self.inner.metrics.lag("poll", at, now);
                }
            }
            self.inner.deny.apply(Revocation { session, until });
            newest = newest.max(at);
        }
        *self
            .inner
            .revocations_seen
            .write()
            .unwrap_or_else(PoisonError::into_inner) = newest;
        Ok(fresh)
    }
}
