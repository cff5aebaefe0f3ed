//! `access-refresh`: exchanging a refresh token for a new pair.
//!
//! Each refresh token is spent by its exchange. Presenting a spent one
//! again means two parties hold it (OAuth 2.0 Security BCP §4.14): the
//! session is revoked. Within the grace period after the exchange the same
//! spent token gets the same successor pair instead, so an app that fires
//! several refreshes at once after waking is not signed out.

use super::{AuthService, Login, security::AgentSeen};
use crate::{
    error::AuthError,
    secret::SecretToken,
    session::{ClientContext, Session},
    store::{RefreshRecord, Rotation},
    strategy::Strategy,
    user::Username,
};

impl AuthService {
    /// The live session a refresh token belongs to, without spending it:
    /// a browser refresh is CSRF-checked against it first.
    pub async fn refresh_session(&self, refresh: &str) -> Result<Session, AuthError> {
        let (_, session, _) = self.refresh_context(refresh).await?;
        Ok(session)
    }

    async fn refresh_context(
        &self,
        refresh: &str,
    ) -> Result<(RefreshRecord, Session, Username), AuthError> {
        if self.strategy() != Strategy::AccessRefresh {
            return Err(AuthError::NotFound);
        }
        let token = SecretToken::parse(refresh).ok_or(AuthError::Unauthenticated)?;
        let record = self
            .store()
            .refresh_token(&token.hash())
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let (session, username) = self
            .store()
            .session_by_id(record.session_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if self.inner.deny.is_revoked(session.id, self.now()) {
            return Err(AuthError::SessionRevoked);
        }
        self.check_record(&session)?;
        Ok((record, session, username))
    }

    /// Spends `refresh` and returns a new access token and refresh token.
    /// The request's `context` is held to the session's binding like any
    /// other request's.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        refresh: &str,
        context: &ClientContext,
    ) -> Result<Login, AuthError> {
        let hash = SecretToken::parse(refresh)
            .ok_or(AuthError::Unauthenticated)?
            .hash();
        let login = self
            .inner
            .refreshes
            .try_get_with(hash, self.rotate(refresh, context))
            .await
            .map_err(|e| (*e).clone())?;
        // A successor handed out again within the grace period must not
        // outlive a revocation made since, and goes only to the client the
        // session is bound to.
        if self.inner.deny.is_revoked(login.session.id, self.now()) {
            return Err(AuthError::SessionRevoked);
        }
        let binding = self.session_binding(&login.session);
        let seen = AgentSeen::default();
        self.enforce_binding(
            &binding,
            &seen,
            login.session.user_id,
            login.session.id,
            context,
        )
        .await?;
        Ok(login)
    }

    async fn rotate(&self, refresh: &str, context: &ClientContext) -> Result<Login, AuthError> {
        let (record, session, username) = self.refresh_context(refresh).await?;
        let now = self.now();
        if let Some(spent_at) = record.spent_at {
            return self.spent_again(&session, now - spent_at, context).await;
        }
        let binding = self.session_binding(&session);
        let seen = AgentSeen::default();
        self.enforce_binding(&binding, &seen, session.user_id, session.id, context)
            .await?;
        let successor = SecretToken::generate()?;
        let successor_record = RefreshRecord {
            token_hash: successor.hash(),
            session_id: session.id,
            generation: record.generation + 1,
            created_at: now,
            spent_at: None,
        };
        match self
            .store()
            .rotate_refresh_token(&record.token_hash, &successor_record, now)
            .await?
        {
            Rotation::Rotated => {}
            Rotation::AlreadySpent(at) => {
                return self.spent_again(&session, now - at, context).await;
            }
            Rotation::Unknown => return Err(AuthError::Unauthenticated),
        }
        self.touch(&session, Some(context), self.now()).await;
        let mut credentials = self.issue_jwt(&session, &username)?;
        credentials.refresh = Some(successor.expose().to_owned());
        Ok(Login {
            session,
            username,
            credentials,
        })
    }

    /// A spent token came back `since` its exchange, and this process has
    /// no successor to hand out for it.
    async fn spent_again(
        &self,
        session: &Session,
        since: time::Duration,
        context: &ClientContext,
    ) -> Result<Login, AuthError> {
        if since <= self.inner.config.refresh_grace {
            // Exchanged moments ago by another process: not theft, but
            // its successor cannot be reproduced here.
            return Err(AuthError::Unauthenticated);
        }
        self.revoke_for_reuse(session, Some(context)).await?;
        Err(AuthError::SessionRevoked)
    }
}
