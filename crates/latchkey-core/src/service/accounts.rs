//! Registration and login.

use super::{AuthService, Login};
use crate::{
    error::{AuthError, StoreError},
    ids::UserId,
    session::{ClientContext, ClientKind},
    user::{Password, User, Username},
};

impl AuthService {
    /// Creates an account. A taken name is [`AuthError::UsernameTaken`];
    /// checked before hashing so a probe for names costs no Argon2 time.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        let password = Password::parse_new(password)?;
        if self.store().user_by_username(&username).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let user = User {
            id: UserId::new(),
            username,
            password_hash: self.inner.hasher.hash(&password).await?,
            created_at: self.now(),
        };
        match self.store().create_user(&user).await {
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
            Ok(name) => self.store().user_by_username(&name).await?,
            Err(_) => None,
        };
        let verified = self
            .inner
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
        self.start_session(user, client, context).await
    }

    /// Replaces a hash made with older parameters. Failure only delays the
    /// upgrade to the next login, so it is logged, not returned.
    async fn upgrade_hash(&self, user: &User, password: &Password) {
        let result = match self.inner.hasher.hash(password).await {
            Ok(phc) => self
                .store()
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
}
