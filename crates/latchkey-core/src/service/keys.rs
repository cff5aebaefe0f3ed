//! The signing key ring, and the revocations this node follows.

use std::sync::{Arc, PoisonError};

use time::Duration;

use super::AuthService;
use crate::{
    error::AuthError,
    keys::{KeyState, SigningKey},
    revocation::Revocation,
    strategy::Strategy,
    token::KeyRing,
};

impl AuthService {
    /// The longest any token this deployment issues can live: how long a
    /// retired key must keep verifying.
    pub fn max_token_ttl(&self) -> Duration {
        let config = &self.inner.config;
        match config.strategy {
            Strategy::Session | Strategy::StatefulJwt => self.inner.policy.ttl,
            Strategy::AccessRefresh | Strategy::AutoRefresh => config.access_ttl,
        }
    }

    /// How long after a revocation a token for that session could still
    /// pass without the deny-list: the access-token life, or for
    /// `stateful-jwt` the record cache's.
    pub(super) fn token_lifetime_bound(&self) -> Duration {
        let config = &self.inner.config;
        let bound = match config.strategy {
            Strategy::Session => Duration::ZERO,
            Strategy::StatefulJwt => config.cache_ttl,
            Strategy::AccessRefresh | Strategy::AutoRefresh => config.access_ttl,
        };
        bound + config.leeway
    }

    /// Makes a signing key of the configured algorithm unless one is
    /// signing already; `true` if it made one.
    pub async fn ensure_signing_key(&self) -> Result<bool, AuthError> {
        let now = self.now();
        let keys = self.store().keys().await?;
        let wanted = self.inner.config.algorithm;
        let signing = keys
            .iter()
            .filter(|k| k.state(now, self.max_token_ttl()) == KeyState::Signing)
            .max_by_key(|k| k.created_at);
        if signing.is_some_and(|k| k.algorithm == wanted) {
            return Ok(false);
        }
        let key = SigningKey::generate(wanted, now)?;
        self.store().rotate_key(&key, now).await?;
        tracing::info!(kid = %key.kid, algorithm = %wanted, "made a new signing key");
        Ok(true)
    }

    /// `latchkey keys rotate`: a new key of the current signer's algorithm
    /// signs from now on (an algorithm change is made by configuration and
    /// a restart); the old ones verify until every token they signed has
    /// expired. Returns the new key's id.
    pub async fn rotate_key(&self) -> Result<String, AuthError> {
        let now = self.now();
        let keys = self.store().keys().await?;
        let algorithm = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
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
        self.sync_revocations().await.map(|_| ())
    }

    /// Applies revocations written to the store since the last call (by
    /// this process, the CLI or another node); returns how many were new.
    pub async fn sync_revocations(&self) -> Result<usize, AuthError> {
        if !self.strategy().uses_jwt() {
            return Ok(0);
        }
        let since = *self
            .inner
            .revocations_seen
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let revoked = self.store().revocations_since(since).await?;
        let bound = self.token_lifetime_bound();
        let mut newest = since;
        let mut fresh = 0;
        for (session, at) in revoked {
            self.inner.records.invalidate(&session);
            if !self.inner.deny.is_revoked(session, self.now()) {
                fresh += 1;
            }
            self.inner.deny.apply(Revocation {
                session,
                until: at + bound,
            });
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
