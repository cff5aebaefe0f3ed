//! What a client holds, per strategy, and how a request's credential
//! becomes a [`Caller`].
//!
//! | strategy | credential | checked per request |
//! |---|---|---|
//! | `session` | opaque 256-bit secret | session record, by the secret's hash |
//! | `stateful-jwt` | JWT living as long as the session | signature, deny-list, session record (cached) |

use time::OffsetDateTime;

use super::AuthService;
use crate::{
    csrf::CsrfToken,
    error::AuthError,
    ids::{SessionId, UserId},
    secret::{SecretToken, random_bytes},
    session::{ClientContext, ClientKind, Session, SessionState},
    strategy::Strategy,
    token::Claims,
    user::{User, Username},
};

/// The credentials handed to a client.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The session id or JWT the client presents on each request.
    pub access: String,
    /// When `access` stops working.
    pub access_expires_at: OffsetDateTime,
}

/// A successful login: the new session and its credentials, which exist
/// nowhere else.
#[derive(Debug)]
pub struct Login {
    /// The session record.
    pub session: Session,
    /// Whose session it is.
    pub username: Username,
    /// What the client keeps.
    pub credentials: Credentials,
}

/// A request's caller, once its credential has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's session.
    pub session_id: SessionId,
    /// The caller.
    pub user_id: UserId,
    /// The caller's username.
    pub username: Username,
    /// Browser or app.
    pub client: ClientKind,
    /// The token unsafe browser requests must echo.
    pub csrf_token: CsrfToken,
}

impl Caller {
    fn from_session(session: &Session, username: Username) -> Self {
        Self {
            session_id: session.id,
            user_id: session.user_id,
            username,
            client: session.client,
            csrf_token: session.csrf_token.clone(),
        }
    }
}

impl AuthService {
    /// Creates the session record of a successful login and the
    /// credentials of the strategy in force.
    pub(super) async fn start_session(
        &self,
        user: User,
        client: ClientKind,
        context: ClientContext,
    ) -> Result<Login, AuthError> {
        let secret = SecretToken::generate()?;
        let now = self.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            // For JWT strategies this secret is never handed out: the hash
            // only fills the column (and can never match a presented value).
            token_hash: secret.hash(),
            client,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.inner.policy.ttl,
            ip: context.ip,
            user_agent: context.user_agent,
            csrf_token: CsrfToken::generate()?,
            revoked_at: None,
            revoked_reason: None,
        };
        self.store().create_session(&session).await?;
        let credentials = match self.strategy() {
            Strategy::Session => Credentials {
                access: secret.expose().to_owned(),
                access_expires_at: session.expires_at,
            },
            _ => self.issue_jwt(&session, &user.username, session.expires_at)?,
        };
        Ok(Login {
            session,
            username: user.username,
            credentials,
        })
    }

    /// Signs a JWT for `session` that expires at `expires_at` (or the
    /// session's own end, if sooner).
    fn issue_jwt(
        &self,
        session: &Session,
        username: &Username,
        expires_at: OffsetDateTime,
    ) -> Result<Credentials, AuthError> {
        let now = self.now();
        let expires_at = expires_at.min(session.expires_at);
        let issuer = &self.inner.config.issuer;
        let claims = Claims {
            iss: issuer.clone(),
            aud: issuer.clone(),
            sub: session.user_id.to_string(),
            sid: session.id.to_string(),
            name: username.to_string(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: base64_id()?,
            csrf: (session.client == ClientKind::Web)
                .then(|| session.csrf_token.expose().to_owned()),
            generation: 0,
        };
        Ok(Credentials {
            access: self.ring().sign(&claims)?,
            access_expires_at: expires_at,
        })
    }

    /// Resolves a credential to its live session.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, credential: &str) -> Result<Caller, AuthError> {
        match self.strategy() {
            Strategy::Session => self.authenticate_session(credential).await,
            _ => self.authenticate_jwt(credential).await,
        }
    }

    async fn authenticate_session(&self, credential: &str) -> Result<Caller, AuthError> {
        let token = SecretToken::parse(credential).ok_or(AuthError::Unauthenticated)?;
        let (session, username) = self
            .store()
            .session_by_token(&token.hash())
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        self.check_record(&session)?;
        self.touch(&session).await;
        Ok(Caller::from_session(&session, username))
    }

    async fn authenticate_jwt(&self, credential: &str) -> Result<Caller, AuthError> {
        let now = self.now();
        let config = &self.inner.config;
        let claims = self.ring().verify(credential).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            AuthError::Unauthenticated
        })?;
        claims
            .check(&config.issuer, now, config.leeway, false)
            .map_err(|e| {
                tracing::debug!(reason = %e, "token refused");
                AuthError::Unauthenticated
            })?;
        let session_id: SessionId = claims.sid.parse().map_err(|_| AuthError::Unauthenticated)?;
        if self.inner.deny.is_revoked(session_id, now) {
            return Err(AuthError::SessionRevoked);
        }
        let (session, username) = self.record(session_id).await?;
        if session.user_id.to_string() != claims.sub {
            return Err(AuthError::Unauthenticated);
        }
        self.check_record(&session)?;
        self.touch(&session).await;
        Ok(Caller::from_session(&session, username))
    }

    /// The session record, from the cache while it is fresh.
    async fn record(&self, id: SessionId) -> Result<(Session, Username), AuthError> {
        if let Some(hit) = self.inner.records.get(&id) {
            return Ok(hit);
        }
        let found = self
            .store()
            .session_by_id(id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        self.inner.records.insert(id, found.clone());
        Ok(found)
    }

    fn check_record(&self, session: &Session) -> Result<(), AuthError> {
        match session.state(self.now()) {
            SessionState::Active => Ok(()),
            SessionState::Expired => Err(AuthError::Unauthenticated),
            SessionState::Revoked => Err(AuthError::SessionRevoked),
        }
    }

    /// Records the request as the session's last activity, at most once per
    /// touch interval. A failure is logged: it must not fail the request.
    async fn touch(&self, session: &Session) {
        let now = self.now();
        if !session.needs_touch(now, &self.inner.policy) {
            return;
        }
        match self.store().touch_session(session.id, now).await {
            Ok(()) => {
                if let Some((mut cached, name)) = self.inner.records.get(&session.id) {
                    cached.last_seen_at = now;
                    self.inner.records.insert(session.id, (cached, name));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not record last-seen time"),
        }
    }
}

/// A random token id.
fn base64_id() -> Result<String, AuthError> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}
