//! What a client holds, per strategy, and how a request's credential
//! becomes a [`Caller`].
//!
//! | strategy | credential | checked per request |
//! |---|---|---|
//! | `session` | opaque 256-bit secret | session record, by the secret's hash |
//! | `stateful-jwt` | JWT living as long as the session | signature, deny-list, session record (cached) |
//! | `access-refresh` | short JWT + opaque refresh token | signature, deny-list; no store read |
//! | `auto-refresh` | short JWT, renewed on expiry | signature, deny-list; the record only on expiry |

use std::sync::Arc;

use time::OffsetDateTime;

use super::{AuthService, CachedRecord, VerifiedToken, security::AgentSeen};
use crate::{
    csrf::CsrfToken,
    error::AuthError,
    event::{EventKind, SecurityEvent},
    ids::{SessionId, UserId},
    secret::{SecretToken, TokenHash, random_bytes},
    session::{ClientContext, ClientKind, RevocationReason, Session, SessionState},
    store::RefreshRecord,
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
    /// How long a browser should keep the access cookie: in `auto-refresh`
    /// the session's end, since an expired token is what gets renewed.
    pub cookie_expires_at: OffsetDateTime,
    /// `access-refresh`: the refresh token.
    pub refresh: Option<String>,
}

/// New credentials for a session: a login, or a refresh.
#[derive(Debug, Clone)]
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
    /// `auto-refresh`: the request's token had expired and was renewed;
    /// the client must be handed this one.
    pub renewed: Option<Credentials>,
    /// Where the request came from, for the security log.
    pub context: ClientContext,
}

impl Caller {
    pub(super) fn from_session(
        session: &Session,
        username: Username,
        context: ClientContext,
    ) -> Self {
        Self {
            session_id: session.id,
            user_id: session.user_id,
            username,
            client: session.client,
            csrf_token: session.csrf_token.clone(),
            renewed: None,
            context,
        }
    }

    /// The caller as a verified token describes it: no store read.
    fn from_claims(claims: &Claims, context: ClientContext) -> Result<Self, AuthError> {
        let bad = |_| AuthError::Unauthenticated;
        Ok(Self {
            session_id: claims.sid.parse().map_err(bad)?,
            user_id: claims.sub.parse().map_err(bad)?,
            username: Username::parse(&claims.name).map_err(|_| AuthError::Unauthenticated)?,
            client: if claims.csrf.is_some() {
                ClientKind::Web
            } else {
                ClientKind::Mobile
            },
            csrf_token: CsrfToken::from_stored(claims.csrf.clone().unwrap_or_default()),
            renewed: None,
            context,
        })
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
            user_agent: context.user_agent.clone(),
            last_ip: context.ip,
            last_user_agent: context.user_agent.clone(),
            csrf_token: CsrfToken::generate()?,
            revoked_at: None,
            revoked_reason: None,
            generation: 0,
            renewed_at: None,
        };
        self.store().create_session(&session).await?;
        let credentials = match self.strategy() {
            Strategy::Session => Credentials {
                access: secret.expose().to_owned(),
                access_expires_at: session.expires_at,
                cookie_expires_at: session.expires_at,
                refresh: None,
            },
            Strategy::StatefulJwt | Strategy::AutoRefresh => {
                self.issue_jwt(&session, &user.username)?
            }
            Strategy::AccessRefresh => {
                let refresh = SecretToken::generate()?;
                self.store()
                    .create_refresh_token(&RefreshRecord {
                        token_hash: refresh.hash(),
                        session_id: session.id,
                        generation: 0,
                        created_at: now,
                        spent_at: None,
                    })
                    .await?;
                let mut credentials = self.issue_jwt(&session, &user.username)?;
                credentials.refresh = Some(refresh.expose().to_owned());
                credentials
            }
        };
        Ok(Login {
            session,
            username: user.username,
            credentials,
        })
    }

    /// Signs a JWT for `session` at its current generation, living as the
    /// strategy says (never past the session's own end).
    pub(super) fn issue_jwt(
        &self,
        session: &Session,
        username: &Username,
    ) -> Result<Credentials, AuthError> {
        let now = self.now();
        let config = &self.inner.config;
        let session_end = session.expires_at;
        let expires_at = match config.strategy {
            Strategy::Session | Strategy::StatefulJwt => session_end,
            Strategy::AccessRefresh | Strategy::AutoRefresh => now + config.access_ttl,
        };
        // JWT times are whole seconds: round the expiry up so a token lives
        // at least its TTL, but never past the session's end.
        let exp = ceil_seconds(expires_at).min(session_end.unix_timestamp());
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(session_end);
        // auto-refresh: the cookie outlives the token, since an expired
        // token is what gets renewed.
        let cookie_expires_at = match config.strategy {
            Strategy::AutoRefresh => session_end,
            _ => expires_at,
        };
        let (ua, net) = self.binding_claims(session.ip, session.user_agent.as_deref());
        let claims = Claims {
            ua,
            net,
            iss: config.issuer.clone(),
            aud: config.issuer.clone(),
            sub: session.user_id.to_string(),
            sid: session.id.to_string(),
            name: username.to_string(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp,
            jti: base64_id()?,
            csrf: (session.client == ClientKind::Web)
                .then(|| session.csrf_token.expose().to_owned()),
            generation: session.generation,
        };
        Ok(Credentials {
            access: self.ring().sign(&claims)?,
            access_expires_at: expires_at,
            cookie_expires_at,
            refresh: None,
        })
    }

    /// Resolves a credential to its live session. `context` is where the
    /// request came from: the session's binding is checked against it, and
    /// the anomaly policies applied. Only a caller that cannot see the
    /// client (a test, a benchmark) passes `None`, which skips the check.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(
        &self,
        credential: &str,
        context: Option<&ClientContext>,
    ) -> Result<Caller, AuthError> {
        self.authenticate_with_csrf(credential, None, context.cloned())
            .await
    }

    /// Like [`authenticate`](Self::authenticate), for a browser request
    /// that must prove it is not forged: `csrf` is the `X-CSRF-Token` it
    /// presented (`""` if none). It is checked before anything changes, so
    /// a forged request cannot even trigger an `auto-refresh` renewal.
    /// The context is taken by value: it becomes the caller's.
    ///
    /// Traced (a span) only on the full path: the common one is answered
    /// from memory in well under a microsecond, less than a span costs.
    pub async fn authenticate_with_csrf(
        &self,
        credential: &str,
        csrf: Option<&str>,
        context: Option<ClientContext>,
    ) -> Result<Caller, AuthError> {
        if let Some(mut caller) = self.settled(credential, csrf, context.as_ref()) {
            caller.context = context.unwrap_or_default();
            return Ok(caller);
        }
        // Boxed: the full path's state stays out of the common case's.
        match self.strategy() {
            Strategy::Session => {
                Box::pin(self.authenticate_session(credential, csrf, context)).await
            }
            _ => Box::pin(self.authenticate_jwt(credential, csrf, context)).await,
        }
    }

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn authenticate_session(
        &self,
        credential: &str,
        csrf: Option<&str>,
        context: Option<ClientContext>,
    ) -> Result<Caller, AuthError> {
        let token = SecretToken::parse(credential).ok_or(AuthError::Unauthenticated)?;
        let record = self.record_by_token(token.hash()).await?;
        let session = &record.session;
        if self.feed_down() {
            // Fail secure, as in the JWT strategies: a cached record does
            // not know of another node's revocation.
            Box::pin(self.sync_revocations()).await?;
        }
        let now = self.now();
        if self.inner.deny.is_revoked(session.id, now) {
            return Err(AuthError::SessionRevoked);
        }
        check_record_at(session, now)?;
        check_csrf(&session.csrf_token, csrf)?;
        if let Some(context) = &context {
            self.enforce_record_binding(&record, context).await?;
        }
        self.touch(session, context.as_ref(), now).await;
        Ok(Caller::from_session(
            session,
            record.username.clone(),
            context.unwrap_or_default(),
        ))
    }

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn authenticate_jwt(
        &self,
        credential: &str,
        csrf: Option<&str>,
        context: Option<ClientContext>,
    ) -> Result<Caller, AuthError> {
        let now = self.now();
        let config = &self.inner.config;
        let refused = |e: crate::token::TokenError| {
            tracing::debug!(reason = %e, "token refused");
            AuthError::Unauthenticated
        };
        let verified = self.verified_token(credential).map_err(refused)?;
        let claims = &verified.claims;
        // auto-refresh accepts an expired token here: it may be renewed.
        let renewable = config.strategy == Strategy::AutoRefresh;
        claims
            .check(&config.issuer, now, config.leeway, renewable)
            .map_err(refused)?;
        if self.outlives_issued(claims) {
            tracing::debug!("token refused: longer-lived than this configuration issues");
            return Err(AuthError::Unauthenticated);
        }
        let mut caller = verified.caller.clone()?;
        if self.feed_down() {
            // Fail secure: without the feed, another node's revocation is
            // only known to the store.
            Box::pin(self.sync_revocations()).await?;
        }
        if self.inner.deny.is_revoked(caller.session_id, now) {
            return Err(AuthError::SessionRevoked);
        }
        check_csrf(&caller.csrf_token, csrf)?;
        if let Some(context) = &context {
            // The binding travels in the token: no store read.
            let binding = verified
                .binding
                .as_ref()
                .ok_or(AuthError::Unauthenticated)?;
            self.enforce_binding(
                binding,
                &verified.seen,
                caller.user_id,
                caller.session_id,
                context,
            )
            .await?;
        }
        match config.strategy {
            Strategy::StatefulJwt => {
                let record = self.record(caller.session_id).await?;
                let session = &record.session;
                if session.user_id != caller.user_id {
                    return Err(AuthError::Unauthenticated);
                }
                check_record_at(session, now)?;
                if let (Some(context), None) = (&context, &claims.ua) {
                    // A token from before bindings were issued: the record
                    // this strategy reads anyway has the binding.
                    self.enforce_record_binding(&record, context).await?;
                }
                self.touch(session, context.as_ref(), now).await;
                check_csrf(&session.csrf_token, csrf)?;
                Ok(Caller::from_session(
                    session,
                    record.username.clone(),
                    context.unwrap_or_default(),
                ))
            }
            Strategy::AutoRefresh if claims.is_expired(now, config.leeway) => {
                caller.renewed = Some(Box::pin(self.renew(claims, context.as_ref())).await?);
                caller.context = context.unwrap_or_default();
                Ok(caller)
            }
            _ => {
                caller.context = context.unwrap_or_default();
                Ok(caller)
            }
        }
    }

    /// A token whose signature verifies, from the cache of verified tokens
    /// when it is there.
    fn verified_token(
        &self,
        credential: &str,
    ) -> Result<std::sync::Arc<VerifiedToken>, crate::token::TokenError> {
        if let Some(verified) = self.inner.verified.get(credential) {
            self.inner.metrics.token_cache.hit();
            return Ok(verified);
        }
        self.inner.metrics.token_cache.miss();
        let claims = self.ring().verify(credential)?;
        let binding = self.binding_of_claims(&claims).ok();
        let caller = Caller::from_claims(&claims, ClientContext::default());
        let verified = std::sync::Arc::new(VerifiedToken {
            claims,
            caller,
            binding,
            seen: AgentSeen::default(),
        });
        self.inner
            .verified
            .insert(credential.into(), verified.clone());
        Ok(verified)
    }

    /// `auto-refresh`: a new token for the session of an expired one, if
    /// the session is live and the token is of its current generation.
    /// Concurrent requests with the same expired token share one renewal,
    /// and so do requests within the grace period after it.
    async fn renew(
        &self,
        claims: &Claims,
        context: Option<&ClientContext>,
    ) -> Result<Credentials, AuthError> {
        let session_id: SessionId = claims.sid.parse().map_err(|_| AuthError::Unauthenticated)?;
        let generation = claims.generation;
        let context = context.cloned();
        self.inner
            .renewals
            .try_get_with((session_id, generation), async move {
                let now = self.now();
                let advanced = self
                    .store()
                    .advance_generation(session_id, generation, now)
                    .await?;
                let (session, username) = self
                    .store()
                    .session_by_id(session_id)
                    .await?
                    .ok_or(AuthError::Unauthenticated)?;
                if advanced {
                    self.inner.records.invalidate(&session_id);
                    if context.is_some() {
                        self.record_last_seen(session_id, now, context.as_ref())
                            .await;
                    }
                    return self.issue_jwt(&session, &username);
                }
                self.check_record(&session)?;
                let just_renewed = session.generation == generation + 1
                    && session
                        .renewed_at
                        .is_some_and(|at| now - at <= self.inner.config.refresh_grace);
                if session.generation > generation && !just_renewed {
                    self.revoke_for_reuse(&session, context.as_ref()).await?;
                    return Err(AuthError::SessionRevoked);
                }
                // Renewed within the grace period by another process, whose
                // token this one cannot reproduce: refuse without alarm.
                Err(AuthError::Unauthenticated)
            })
            .await
            .map_err(|e| (*e).clone())
    }

    /// Ends a session whose spent refresh token or old token generation came
    /// back: two parties hold copies of its credentials.
    pub(super) async fn revoke_for_reuse(
        &self,
        session: &Session,
        context: Option<&ClientContext>,
    ) -> Result<(), AuthError> {
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "credential reuse detected; session revoked");
        let revoked = self
            .store()
            .revoke_session(
                session.user_id,
                session.id,
                self.now(),
                RevocationReason::TokenReuse,
            )
            .await?;
        self.deny(&[session.id]);
        if revoked {
            self.inner.metrics.reuse();
            metrics::counter!(
                "latchkey_revocations_total",
                "reason" => RevocationReason::TokenReuse.as_str()
            )
            .increment(1);
            self.log_event(
                SecurityEvent::new(
                    session.user_id,
                    EventKind::RefreshReuseDetected,
                    self.now(),
                    context,
                )
                .session(session.id)
                .detail("a spent credential of this session was presented again"),
            )
            .await;
            self.record_revocations(
                session.user_id,
                &[session.id],
                RevocationReason::TokenReuse,
                context,
                None,
            )
            .await;
        }
        Ok(())
    }

    /// `session`: the record of the session whose credential hashes to
    /// `hash`, from the caches while they are fresh.
    async fn record_by_token(&self, hash: TokenHash) -> Result<Arc<CachedRecord>, AuthError> {
        // No binding of the record outlives the `if let`: it would be kept
        // in, and copied with, every request's future.
        if let Some(hit) = self.cached_by_token(&hash) {
            self.inner.metrics.session_cache.hit();
            return Ok(hit);
        }
        self.inner.metrics.session_cache.miss();
        let (session, username) = self
            .store()
            .session_by_token(&hash)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let record = self.cache_record(session, username);
        self.inner.session_tokens.insert(hash, record.session.id);
        Ok(record)
    }

    /// `session`: the cached record of the session whose credential
    /// hashes to `hash`, if both caches have it.
    pub(super) fn cached_by_token(&self, hash: &TokenHash) -> Option<Arc<CachedRecord>> {
        let id = self.inner.session_tokens.get(hash)?;
        self.inner.records.get(&id)
    }

    /// The session record, from the cache while it is fresh.
    async fn record(&self, id: SessionId) -> Result<Arc<CachedRecord>, AuthError> {
        if let Some(hit) = self.inner.records.get(&id) {
            self.inner.metrics.session_cache.hit();
            return Ok(hit);
        }
        self.inner.metrics.session_cache.miss();
        let (session, username) = self
            .store()
            .session_by_id(id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        Ok(self.cache_record(session, username))
    }

    /// Applies the anomaly policies to a request on a cached record's
    /// session.
    async fn enforce_record_binding(
        &self,
        record: &CachedRecord,
        context: &ClientContext,
    ) -> Result<(), AuthError> {
        let session = &record.session;
        self.enforce_binding(
            &record.binding,
            &record.seen,
            session.user_id,
            session.id,
            context,
        )
        .await
    }

    /// Caches a record read from the store, with its binding.
    fn cache_record(&self, session: Session, username: Username) -> Arc<CachedRecord> {
        let record = Arc::new(CachedRecord {
            binding: self.session_binding(&session),
            session,
            username,
            seen: AgentSeen::default(),
        });
        self.inner.records.insert(record.session.id, record.clone());
        record
    }

    pub(super) fn check_record(&self, session: &Session) -> Result<(), AuthError> {
        check_record_at(session, self.now())
    }

    /// Records the request as the session's last activity, at most once per
    /// touch interval or when it comes from somewhere new. A failure is
    /// logged: it must not fail the request.
    pub(super) async fn touch(
        &self,
        session: &Session,
        context: Option<&ClientContext>,
        now: OffsetDateTime,
    ) {
        if self.touch_due(session, context, now) {
            self.record_last_seen(session.id, now, context).await;
        }
    }

    /// Writes the session's last-seen time, address and agent.
    pub(super) async fn record_last_seen(
        &self,
        id: SessionId,
        now: OffsetDateTime,
        context: Option<&ClientContext>,
    ) {
        match self.store().touch_session(id, now, context).await {
            Ok(()) => {
                if let Some(cached) = self.inner.records.get(&id) {
                    let mut session = cached.session.clone();
                    session.last_seen_at = session.last_seen_at.max(now);
                    if let Some(context) = context {
                        session.last_ip = context.ip.or(session.last_ip);
                        session.last_user_agent = context.user_agent.clone();
                    }
                    // The binding is the login's, which a touch leaves as
                    // it was.
                    let record = CachedRecord {
                        session,
                        username: cached.username.clone(),
                        binding: cached.binding.clone(),
                        seen: AgentSeen::default(),
                    };
                    self.inner.records.insert(id, Arc::new(record));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not record last-seen time"),
        }
    }
}

/// Whether a session record lets a request through at `now`.
pub(super) fn check_record_at(session: &Session, now: OffsetDateTime) -> Result<(), AuthError> {
    match session.state(now) {
        SessionState::Active => Ok(()),
        SessionState::Expired => Err(AuthError::Unauthenticated),
        SessionState::Revoked => Err(AuthError::SessionRevoked),
    }
}

fn ceil_seconds(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() + i64::from(at.nanosecond() > 0)
}

/// Whether a request that must present the session's CSRF token did.
pub(super) fn check_csrf(expected: &CsrfToken, presented: Option<&str>) -> Result<(), AuthError> {
    match presented {
        None => Ok(()),
        Some(token) if expected.matches(token) => Ok(()),
        Some("") => Err(AuthError::CsrfFailed("missing X-CSRF-Token header".into())),
        Some(_) => Err(AuthError::CsrfFailed("invalid X-CSRF-Token header".into())),
    }
}

/// A random token id.
fn base64_id() -> Result<String, AuthError> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}
