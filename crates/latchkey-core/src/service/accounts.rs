//! Registration and login.

use super::{AuthService, Caller, Login};
use crate::{
    error::{AuthError, StoreError},
    event::{EventKind, SecurityEvent},
    ids::UserId,
    session::{ClientContext, ClientKind, RevocationReason},
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
            Some(user) => {
                self.record_later(
                    SecurityEvent::new(user.id, EventKind::LoginFailed, self.now(), Some(&context))
                        .reason("bad_password"),
                );
                return Err(AuthError::InvalidCredentials);
            }
            None => return Err(AuthError::InvalidCredentials),
        };
        if verified.needs_rehash {
            self.upgrade_hash(&user, &password).await;
        }
        let login = self.start_session(user, client, context.clone()).await?;
        self.log_event(
            SecurityEvent::new(
                login.session.user_id,
                EventKind::LoginSucceeded,
                self.now(),
                Some(&context),
            )
            .session(login.session.id)
            .detail(format!("{} client", client.as_str())),
        )
        .await;
        Ok(login)
    }

    /// Changes the caller's password and ends every other session of
    /// theirs: whoever may have learnt the old password is signed out, and
    /// the device that changed it stays signed in. Returns how many sessions
    /// ended.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<u64, AuthError> {
        let current = Password::parse_attempt(current)?;
        let new = Password::parse_new(new)?;
        let user = self
            .store()
            .user_by_username(&caller.username)
            .await?
            .filter(|u| u.id == caller.user_id)
            .ok_or(AuthError::Unauthenticated)?;
        let verified = self
            .inner
            .hasher
            .verify(&current, Some(&user.password_hash))
            .await?;
        if !verified.ok {
            // Someone holding a session is guessing the password: its owner
            // should see that.
            self.log_event(
                SecurityEvent::new(
                    user.id,
                    EventKind::LoginFailed,
                    self.now(),
                    Some(&caller.context),
                )
                .session(caller.session_id)
                .reason("bad_current_password"),
            )
            .await;
            return Err(AuthError::Forbidden("current password is incorrect".into()));
        }
        if current.expose() == new.expose() {
            return Err(AuthError::InvalidRequest(
                "new_password must differ from current_password".into(),
            ));
        }
        let phc = self.inner.hasher.hash(&new).await?;
        // The other sessions end before the password changes: if a step
        // fails, the user is left with fewer sessions and the old password,
        // never with the new password and a thief still signed in.
        let ended = self
            .store()
            .revoke_user_sessions(
                user.id,
                Some(caller.session_id),
                self.now(),
                RevocationReason::PasswordChange,
            )
            .await?;
        self.deny(&ended);
        self.record_revocations(
            user.id,
            &ended,
            RevocationReason::PasswordChange,
            Some(&caller.context),
            None,
        )
        .await;
        // Two sessions changing the password at once end each other; the
        // one ended first must not change it.
        let (own, _) = self
            .store()
            .session_by_id(caller.session_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        self.check_record(&own)?;
        self.store().set_password_hash(user.id, &phc).await?;
        self.log_event(
            SecurityEvent::new(
                user.id,
                EventKind::PasswordChanged,
                self.now(),
                Some(&caller.context),
            )
            .session(caller.session_id)
            .detail(format!("{} other session(s) signed out", ended.len())),
        )
        .await;
        Ok(ended.len() as u64)
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
