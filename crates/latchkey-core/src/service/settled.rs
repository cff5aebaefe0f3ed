//! The common case of a request's check, answered from memory without
//! waiting.
//!
//! The full check ([`AuthService::authenticate_with_csrf`]) is an `async`
//! state machine: its code, with every rare branch (signature checks,
//! store reads, renewals, anomaly handling) laid out around the common
//! one, is what a request walks through. On these machines the check is
//! bound by instruction-cache misses, not by instructions, so the common
//! case gets a small synchronous function of its own. It accepts only
//! what the full check would accept, using the same checks; anything else
//! (a miss, a refusal, a write or a renewal that is due) goes down the
//! full path, which decides everything again and is the only one to
//! refuse, log or write.

use time::OffsetDateTime;

use super::{
    AuthService, Caller,
    credentials::{check_csrf, check_record_at},
};
use crate::{
    secret::SecretToken,
    session::{ClientContext, Session},
    strategy::Strategy,
};

impl AuthService {
    /// The caller, without its context, if every check passes from memory:
    /// the credential (and for `session` and `stateful-jwt` its record) is
    /// cached, the revocation feed is up, the session is neither revoked
    /// nor expired, the CSRF token (when one is required) is right, the
    /// agent is the one the binding last let through from an allowed
    /// network, no last-seen write is due and no renewal. `None` otherwise.
    pub(super) fn settled(
        &self,
        credential: &str,
        csrf: Option<&str>,
        context: Option<&ClientContext>,
    ) -> Option<Caller> {
        if self.feed_down() {
            return None;
        }
        let now = self.now();
        match self.strategy() {
            Strategy::Session => self.settled_session(credential, csrf, context, now),
            strategy => self.settled_jwt(strategy, credential, csrf, context, now),
        }
    }

    fn settled_session(
        &self,
        credential: &str,
        csrf: Option<&str>,
        context: Option<&ClientContext>,
        now: OffsetDateTime,
    ) -> Option<Caller> {
        let token = SecretToken::parse(credential)?;
        let record = self.cached_by_token(&token.hash())?;
        let session = &record.session;
        if self.inner.deny.is_revoked(session.id, now)
            || check_record_at(session, now).is_err()
            || check_csrf(&session.csrf_token, csrf).is_err()
            || context.is_some_and(|c| !record.seen.settles(&record.binding, c))
            || self.touch_due(session, context, now)
        {
            return None;
        }
        self.inner.metrics.session_cache.hit();
        Some(Caller::from_session(
            session,
            record.username.clone(),
            ClientContext::default(),
        ))
    }

    fn settled_jwt(
        &self,
        strategy: Strategy,
        credential: &str,
        csrf: Option<&str>,
        context: Option<&ClientContext>,
        now: OffsetDateTime,
    ) -> Option<Caller> {
        let verified = self.inner.verified.get(credential)?;
        let config = &self.inner.config;
        let claims = &verified.claims;
        // Expired tokens, renewable or not, take the full path.
        claims
            .check(&config.issuer, now, config.leeway, false)
            .ok()?;
        if self.outlives_issued(claims) {
            return None;
        }
        let caller = verified.caller.as_ref().ok()?;
        if self.inner.deny.is_revoked(caller.session_id, now)
            || check_csrf(&caller.csrf_token, csrf).is_err()
        {
            return None;
        }
        if let Some(context) = context {
            let binding = verified.binding.as_ref()?;
            if !verified.seen.settles(binding, context) {
                return None;
            }
        }
        if strategy != Strategy::StatefulJwt {
            self.inner.metrics.token_cache.hit();
            return Some(caller.clone());
        }
        let record = self.inner.records.get(&caller.session_id)?;
        let session = &record.session;
        if session.user_id != caller.user_id
            || check_record_at(session, now).is_err()
            // A token from before bindings were issued: the record has it.
            || (claims.ua.is_none()
                && context.is_some_and(|c| !record.seen.settles(&record.binding, c)))
            || self.touch_due(session, context, now)
            || check_csrf(&session.csrf_token, csrf).is_err()
        {
            return None;
        }
        self.inner.metrics.token_cache.hit();
        self.inner.metrics.session_cache.hit();
        Some(Caller::from_session(
            session,
            record.username.clone(),
            ClientContext::default(),
        ))
    }

    /// Whether a request on `session` must record itself as the session's
    /// last activity: once per touch interval, or when it comes from
    /// somewhere new.
    pub(super) fn touch_due(
        &self,
        session: &Session,
        context: Option<&ClientContext>,
        now: OffsetDateTime,
    ) -> bool {
        match context {
            Some(context) => session.needs_touch(now, &self.inner.policy, context),
            None => now - session.last_seen_at >= self.inner.policy.touch_interval,
        }
    }
}
