//! Listing and ending sessions.

use super::{AuthService, Caller};
use crate::{
    error::AuthError,
    feed::Message,
    ids::SessionId,
    revocation::Revocation,
    session::{RevocationReason, Session},
    user::{User, Username},
};

impl AuthService {
    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<Session>, AuthError> {
        Ok(self
            .store()
            .active_sessions(caller.user_id, self.now())
            .await?)
    }

    /// The caller's own session record, with its owner's name.
    pub async fn current_session(&self, caller: &Caller) -> Result<Session, AuthError> {
        let (session, _) = self
            .store()
            .session_by_id(caller.session_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        Ok(session)
    }

    /// Ends one of the caller's sessions. Anyone else's session, or one
    /// already ended, is [`AuthError::NotFound`]: the caller learns nothing
    /// about sessions that are not theirs.
    pub async fn revoke_session(&self, caller: &Caller, id: SessionId) -> Result<(), AuthError> {
        let reason = if id == caller.session_id {
            RevocationReason::Logout
        } else {
            RevocationReason::User
        };
        let revoked = self
            .store()
            .revoke_session(caller.user_id, id, self.now(), reason)
            .await?;
        if !revoked {
            return Err(AuthError::NotFound);
        }
        self.deny(&[id]);
        self.record_revocations(
            caller.user_id,
            &[id],
            reason,
            Some(&caller.context),
            Some(caller.session_id),
        )
        .await;
        Ok(())
    }

    /// Ends the caller's own session.
    pub async fn logout(&self, caller: &Caller) -> Result<(), AuthError> {
        let revoked = self
            .store()
            .revoke_session(
                caller.user_id,
                caller.session_id,
                self.now(),
                RevocationReason::Logout,
            )
            .await?;
        self.deny(&[caller.session_id]);
        if revoked {
            self.record_revocations(
                caller.user_id,
                &[caller.session_id],
                RevocationReason::Logout,
                Some(&caller.context),
                Some(caller.session_id),
            )
            .await;
        }
        Ok(())
    }

    /// Ends every session of the caller, this one included.
    pub async fn logout_all(&self, caller: &Caller) -> Result<u64, AuthError> {
        let ended = self
            .store()
            .revoke_user_sessions(
                caller.user_id,
                None,
                self.now(),
                RevocationReason::LogoutAll,
            )
            .await?;
        self.deny(&ended);
        self.record_revocations(
            caller.user_id,
            &ended,
            RevocationReason::LogoutAll,
            Some(&caller.context),
            Some(caller.session_id),
        )
        .await;
        Ok(ended.len() as u64)
    }

    /// Operator action: ends every session of `username`. Servers on the
    /// same store see it at their next revocation poll.
    pub async fn admin_revoke_all(&self, username: &str) -> Result<u64, AuthError> {
        let user = self.user_named(username).await?;
        let ended = self
            .store()
            .revoke_user_sessions(user.id, None, self.now(), RevocationReason::Admin)
            .await?;
        metrics::counter!(
            "latchkey_revocations_total",
            "reason" => RevocationReason::Admin.as_str()
        )
        .increment(ended.len() as u64);
        self.deny(&ended);
        self.record_revocations(user.id, &ended, RevocationReason::Admin, None, None)
            .await;
        Ok(ended.len() as u64)
    }

    /// Operator view: `username`'s live sessions.
    pub async fn admin_sessions(&self, username: &str) -> Result<(User, Vec<Session>), AuthError> {
        let user = self.user_named(username).await?;
        let sessions = self.store().active_sessions(user.id, self.now()).await?;
        Ok((user, sessions))
    }

    async fn user_named(&self, username: &str) -> Result<User, AuthError> {
        let name = Username::parse(username)?;
        self.store()
            .user_by_username(&name)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Deletes sessions that have expired, and security events past their
    /// retention. Revoked but unexpired sessions stay, so their holders are
    /// told "revoked", not "unknown".
    pub async fn sweep_expired(&self) -> Result<u64, AuthError> {
        let now = self.now();
        self.inner.deny.prune(now);
        let sessions = self.store().delete_expired_sessions(now).await?;
        if sessions > 0 {
            // Cached records of deleted sessions would still answer
            // "revoked" for them until they aged out; one reload of the
            // live ones an hour is cheap.
            self.inner.records.invalidate_all();
            self.inner.session_tokens.invalidate_all();
        }
        let events = self.prune_events().await?;
        if events > 0 {
            tracing::debug!(events, "pruned security events past their retention");
        }
        Ok(sessions)
    }

    /// Puts revoked sessions on the deny-list and out of the record cache,
    /// and tells the other nodes through the feed.
    pub(super) fn deny(&self, sessions: &[SessionId]) {
        let now = self.now();
        let until = now + self.token_lifetime_bound();
        for id in sessions {
            let revocation = Revocation {
                session: *id,
                until,
            };
            self.apply_remote(revocation);
            if let Some(feed) = self.inner.feed.get().cloned() {
                // Stamped now: the other nodes' lag includes the wait for
                // a connection to publish on.
                let message = Message {
                    revocation,
                    published_at: Some(now),
                };
                // The store has it already; the feed only makes it fast.
                tokio::spawn(async move {
                    if let Err(e) = feed.publish(message).await {
                        tracing::warn!(feed = feed.name(), error = %e, "could not publish a revocation");
                    }
                });
            }
        }
    }

    /// Applies a revocation heard of from the feed (or made here).
    pub fn apply_remote(&self, revocation: Revocation) {
        self.inner.records.invalidate(&revocation.session);
        self.inner.deny.apply(revocation);
    }

    /// Applies a revocation the feed named `feed` delivered as it was
    /// published. If it is news here (not made here, nor already read from
    /// the store), how long it took from its publication to now is
    /// recorded in `latchkey_revocation_feed_lag_seconds{feed}`.
    pub fn apply_from_feed(&self, feed: &'static str, message: Message) {
        let revocation = message.revocation;
        let now = self.now();
        let news = !self.inner.deny.is_revoked(revocation.session, now);
        self.apply_remote(revocation);
        if let (true, Some(published)) = (news, message.published_at) {
            self.inner.metrics.lag(feed, published, now);
        }
    }
}
