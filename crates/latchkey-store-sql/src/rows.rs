//! Rows as stored, and their checked conversion into domain values. A row
//! that does not convert is reported as corrupt rather than guessed at.

use latchkey_core::{
    StoreError,
    clock::from_millis,
    csrf::CsrfToken,
    event::SecurityEvent,
    ids::{SessionId, UserId},
    keys::SigningKey,
    secret::TokenHash,
    session::Session,
    store::RefreshRecord,
    user::{User, Username},
};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn user_id(s: &str) -> Result<UserId, StoreError> {
    s.parse().map_err(|_| corrupt("user id"))
}

fn ip(s: Option<&str>) -> Result<Option<std::net::IpAddr>, StoreError> {
    s.map(|ip| ip.parse().map_err(|_| corrupt("ip address")))
        .transpose()
}

fn username(s: &str) -> Result<Username, StoreError> {
    Username::parse(s).map_err(|_| corrupt("username"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: user_id(&r.id)?,
            username: username(&r.username)?,
            password_hash: r.password_hash,
            created_at: from_millis(r.created_at),
        })
    }
}

/// A session row; `username` is present when the query joined `users`.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    user_id: String,
    token_hash: Vec<u8>,
    client: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    csrf_token: String,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    generation: i64,
    renewed_at: Option<i64>,
    last_ip: Option<String>,
    last_user_agent: Option<String>,
    #[sqlx(default)]
    username: Option<String>,
}

impl SessionRow {
    pub(crate) fn into_session_with_user(self) -> Result<(Session, Username), StoreError> {
        let name = username(
            self.username
                .as_deref()
                .ok_or_else(|| corrupt("session owner"))?,
        )?;
        Ok((self.try_into()?, name))
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: r
                .id
                .parse::<SessionId>()
                .map_err(|_| corrupt("session id"))?,
            user_id: user_id(&r.user_id)?,
            token_hash: TokenHash::from_slice(&r.token_hash)
                .ok_or_else(|| corrupt("token hash"))?,
            client: r.client.parse().map_err(|()| corrupt("client kind"))?,
            created_at: from_millis(r.created_at),
            last_seen_at: from_millis(r.last_seen_at),
            expires_at: from_millis(r.expires_at),
            ip: ip(r.ip.as_deref())?,
            user_agent: r.user_agent,
            last_ip: ip(r.last_ip.as_deref())?,
            last_user_agent: r.last_user_agent,
            csrf_token: CsrfToken::from_stored(r.csrf_token),
            revoked_at: r.revoked_at.map(from_millis),
            revoked_reason: r
                .revoked_reason
                .as_deref()
                .map(|s| s.parse().map_err(|()| corrupt("revocation reason")))
                .transpose()?,
            generation: r.generation,
            renewed_at: r.renewed_at.map(from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    algorithm: String,
    private_der: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for SigningKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(SigningKey {
            algorithm: r.algorithm.parse().map_err(|_| corrupt("key algorithm"))?,
            kid: r.kid,
            private_der: r.private_der,
            public_key: r.public_key,
            created_at: from_millis(r.created_at),
            retired_at: r.retired_at.map(from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    token_hash: Vec<u8>,
    session_id: String,
    generation: i64,
    created_at: i64,
    spent_at: Option<i64>,
}

impl TryFrom<RefreshRow> for RefreshRecord {
    type Error = StoreError;
    fn try_from(r: RefreshRow) -> Result<Self, StoreError> {
        Ok(RefreshRecord {
            token_hash: TokenHash::from_slice(&r.token_hash)
                .ok_or_else(|| corrupt("refresh token hash"))?,
            session_id: r.session_id.parse().map_err(|_| corrupt("session id"))?,
            generation: r.generation,
            created_at: from_millis(r.created_at),
            spent_at: r.spent_at.map(from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    user_id: String,
    kind: String,
    at: i64,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    reason: Option<String>,
    detail: Option<String>,
}

impl TryFrom<EventRow> for SecurityEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(SecurityEvent {
            id: uuid::Uuid::try_parse(&r.id).map_err(|_| corrupt("event id"))?,
            user_id: user_id(&r.user_id)?,
            kind: r.kind.parse().map_err(|()| corrupt("event kind"))?,
            at: from_millis(r.at),
            session_id: r
                .session_id
                .as_deref()
                .map(|id| id.parse::<SessionId>().map_err(|_| corrupt("session id")))
                .transpose()?,
            ip: ip(r.ip.as_deref())?,
            user_agent: r.user_agent,
            reason: r.reason,
            detail: r.detail,
        })
    }
}
