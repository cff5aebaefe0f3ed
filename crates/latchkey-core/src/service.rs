//! The use cases, one method each. The HTTP layer and the CLI both go
//! through here, so a rule (expiry, revocation, rehash) lives in one place.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::{
    clock::{Clock, truncate_to_millis},
    csrf::CsrfToken,
    error::{AuthError, StoreError},
    ids::{SessionId, UserId},
    keys::SigningKey,
    password::PasswordHasher,
    secret::SecretToken,
    session::{ClientContext, ClientKind, RevocationReason, Session, SessionPolicy, SessionState},
    store::Store,
    user::{Password, User, Username},
};

/// A successful login: the new session and the credential for it, which
/// exists nowhere else.
#[derive(Debug)]
pub struct Login {
    /// The session record.
    pub session: Session,
    /// The credential to hand to the client once.
    pub token: SecretToken,
    /// Whose session it is.
    pub username: Username,
}

/// A request's caller, once its credential has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's live session.
    pub session: Session,
    /// The caller's username.
    pub username: Username,
}

impl Caller {
    /// The caller's user id.
    pub fn user_id(&self) -> UserId {
        self.session.user_id
    }
}

/// latchkey's use cases over a store.
#[derive(Debug, Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
}

impl AuthService {
    /// Wires a service.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            store,
            hasher,
            clock,
            policy,
        }
    }

    /// The current time by the service's clock, at store precision.
    pub fn now(&self) -> OffsetDateTime {
        truncate_to_millis(self.clock.now())
    }

    /// The session policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Creates an account. A taken name is [`AuthError::UsernameTaken`];
    /// checked before hashing so a probe for names costs no Argon2 time.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        let password = Password::parse_new(password)?;
        if self.store.user_by_username(&username).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let user = User {
            id: UserId::new(),
            username,
            password_hash: self.hasher.hash(&password).await?,
            created_at: self.now(),
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a username and password and starts a new session. Unknown
    /// users cost one Argon2 verification too, and get the same error.
    #[tracing::instrument(skip_all, fields(client = client.as_str()))]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: ClientKind,
        context: ClientContext,
    ) -> Result<Login, AuthError> {
        let password = Password::parse_attempt(password)?;
        let user = match Username::parse(username) {
            Ok(name) => self.store.user_by_username(&name).await?,
            Err(_) => None,
        };
        let verified = self
            .hasher
            .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(user) if verified.ok => user,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if verified.needs_rehash {
            self.upgrade_hash(&user, &password).await;
        }
        let token = SecretToken::generate()?;
        let now = self.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            token_hash: token.hash(),
            client,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.policy.ttl,
            ip: context.ip,
            user_agent: context.user_agent,
            csrf_token: CsrfToken::generate()?,
            revoked_at: None,
            revoked_reason: None,
        };
        self.store.create_session(&session).await?;
        Ok(Login {
            session,
            token,
            username: user.username,
        })
    }

    /// Replaces a hash made with older parameters. Failure only delays the
    /// upgrade to the next login, so it is logged, not returned.
    async fn upgrade_hash(&self, user: &User, password: &Password) {
        let result = match self.hasher.hash(password).await {
            Ok(phc) => self
                .store
                .set_password_hash(user.id, &phc)
                .await
                .map_err(AuthError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(user_id = %user.id, "upgraded password hash parameters"),
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "password hash upgrade failed")
            }
        }
    }

    /// Resolves a credential to its live session.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, credential: &str) -> Result<Caller, AuthError> {
        let token = SecretToken::parse(credential).ok_or(AuthError::Unauthenticated)?;
        let (mut session, username) = self
            .store
            .session_by_token(&token.hash())
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let now = self.now();
        match session.state(now) {
            SessionState::Active => {}
            SessionState::Expired => return Err(AuthError::Unauthenticated),
            SessionState::Revoked => return Err(AuthError::SessionRevoked),
        }
        if session.needs_touch(now, &self.policy) {
            match self.store.touch_session(session.id, now).await {
                Ok(()) => session.last_seen_at = now,
                Err(e) => tracing::warn!(error = %e, "could not record last-seen time"),
            }
        }
        Ok(Caller { session, username })
    }

    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<Session>, AuthError> {
        Ok(self
            .store
            .active_sessions(caller.user_id(), self.now())
            .await?)
    }

    /// Ends one of the caller's sessions. Anyone else's session, or one
    /// already ended, is [`AuthError::NotFound`]: the caller learns nothing
    /// about sessions that are not theirs.
    pub async fn revoke_session(&self, caller: &Caller, id: SessionId) -> Result<(), AuthError> {
        let reason = if id == caller.session.id {
            RevocationReason::Logout
        } else {
            RevocationReason::User
        };
        let revoked = self
            .store
            .revoke_session(caller.user_id(), id, self.now(), reason)
            .await?;
        if revoked {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Ends the caller's own session.
    pub async fn logout(&self, caller: &Caller) -> Result<(), AuthError> {
        self.store
            .revoke_session(
                caller.user_id(),
                caller.session.id,
                self.now(),
                RevocationReason::Logout,
            )
            .await?;
        Ok(())
    }

    /// Ends every session of the caller, this one included.
    pub async fn logout_all(&self, caller: &Caller) -> Result<u64, AuthError> {
        Ok(self
            .store
            .revoke_user_sessions(
                caller.user_id(),
                None,
                self.now(),
                RevocationReason::LogoutAll,
            )
            .await?)
    }

    /// Operator action: ends every session of `username`.
    pub async fn admin_revoke_all(&self, username: &str) -> Result<u64, AuthError> {
        let user = self.user_named(username).await?;
        Ok(self
            .store
            .revoke_user_sessions(user.id, None, self.now(), RevocationReason::Admin)
            .await?)
    }

    /// Operator view: `username`'s live sessions.
    pub async fn admin_sessions(&self, username: &str) -> Result<(User, Vec<Session>), AuthError> {
        let user = self.user_named(username).await?;
        let sessions = self.store.active_sessions(user.id, self.now()).await?;
        Ok((user, sessions))
    }

    async fn user_named(&self, username: &str) -> Result<User, AuthError> {
        let name = Username::parse(username)?;
        self.store
            .user_by_username(&name)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Makes a signing key if the store has none; `true` if it made one.
    pub async fn ensure_signing_key(&self) -> Result<bool, AuthError> {
        if !self.store.keys().await?.is_empty() {
            return Ok(false);
        }
        self.store
            .insert_key(&SigningKey::generate_ed25519(self.now())?)
            .await?;
        Ok(true)
    }

    /// Deletes sessions that have expired. Revoked but unexpired sessions
    /// stay, so their holders are told "revoked", not "unknown".
    pub async fn sweep_expired(&self) -> Result<u64, AuthError> {
        Ok(self.store.delete_expired_sessions(self.now()).await?)
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), AuthError> {
        Ok(self.store.ping().await?)
    }
}
