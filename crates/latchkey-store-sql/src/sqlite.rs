//! The embedded default: one SQLite file in WAL mode.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use latchkey_core::{
    StoreError,
    clock::{from_millis, to_millis},
    ids::{SessionId, UserId},
    keys::SigningKey,
    secret::TokenHash,
    session::{RevocationReason, Session},
    store::{KeyStore, RefreshRecord, RefreshStore, Rotation, SessionStore, Store, UserStore},
    user::{User, Username},
};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use time::OffsetDateTime;

use crate::{
    error::{from_migrate, from_sqlx},
    rows::{KeyRow, RefreshRow, SessionRow, UserRow},
};

/// The columns of [`SessionRow`], as a literal so queries can be `concat!`ed
/// into `&'static str` (sqlx refuses unchecked dynamic SQL).
macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.token_hash, s.client, s.created_at, s.last_seen_at, s.expires_at, \
         s.ip, s.user_agent, s.csrf_token, s.revoked_at, s.revoked_reason, s.generation, s.renewed_at"
    };
}

/// A SQLite database behind a connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (and with `mode=rwc`, creates) the database at `url`. Does not
    /// migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(user.username.as_str())
        .bind(user.username.key())
        .bind(&user.password_hash)
        .bind(to_millis(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "SELECT id, username, password_hash, created_at FROM users WHERE username_key = ?",
        )
        .bind(username.key())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?
        .map(User::try_from)
        .transpose()
    }

    async fn set_password_hash(&self, user: UserId, phc: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(phc)
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, client, created_at, last_seen_at, \
             expires_at, ip, user_agent, csrf_token, revoked_at, revoked_reason, generation, \
             renewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.token_hash.as_bytes().as_slice())
        .bind(s.client.as_str())
        .bind(to_millis(s.created_at))
        .bind(to_millis(s.last_seen_at))
        .bind(to_millis(s.expires_at))
        .bind(s.ip.map(|ip| ip.to_string()))
        .bind(s.user_agent.as_deref())
        .bind(s.csrf_token.expose())
        .bind(s.revoked_at.map(to_millis))
        .bind(s.revoked_reason.map(RevocationReason::as_str))
        .bind(s.generation)
        .bind(s.renewed_at.map(to_millis))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Username)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_columns!(),
            ", u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?"
        );
        sqlx::query_as::<_, SessionRow>(SQL)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?
            .map(SessionRow::into_session_with_user)
            .transpose()
    }

    async fn session_by_id(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Username)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_columns!(),
            ", u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?"
        );
        sqlx::query_as::<_, SessionRow>(SQL)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?
            .map(SessionRow::into_session_with_user)
            .transpose()
    }

    async fn active_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? \
             ORDER BY s.created_at DESC, s.id"
        );
        sqlx::query_as::<_, SessionRow>(SQL)
            .bind(user.to_string())
            .bind(to_millis(now))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?
            .into_iter()
            .map(Session::try_from)
            .collect()
    }

    async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?")
            .bind(to_millis(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? \
             WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(to_millis(at))
        .bind(reason.as_str())
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(to_millis(at))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<Vec<SessionId>, StoreError> {
        let keep = keep.map(|k| k.to_string());
        let ids: Vec<(String,)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? \
             AND (? IS NULL OR id <> ?) RETURNING id",
        )
        .bind(to_millis(at))
        .bind(reason.as_str())
        .bind(user.to_string())
        .bind(to_millis(at))
        .bind(keep.as_deref())
        .bind(keep.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        ids.into_iter()
            .map(|(id,)| {
                id.parse()
                    .map_err(|_| StoreError::Corrupt("session id".into()))
            })
            .collect()
    }

    async fn revocations_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ? ORDER BY revoked_at",
        )
        .bind(to_millis(since))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|(id, at)| {
                let id = id
                    .parse()
                    .map_err(|_| StoreError::Corrupt("session id".into()))?;
                Ok((id, from_millis(at)))
            })
            .collect()
    }

    async fn delete_expired_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(to_millis(before))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn create_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        insert_refresh(&self.pool, record).await
    }

    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query_as::<_, RefreshRow>(
            "SELECT token_hash, session_id, generation, created_at, spent_at \
             FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?
        .map(RefreshRecord::try_from)
        .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        spent: &TokenHash,
        successor: &RefreshRecord,
        at: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        // IMMEDIATE: this transaction reads then writes; a deferred one
        // would fail with SQLITE_BUSY instead of waiting its turn.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(from_sqlx)?;
        let spent_now = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
        )
        .bind(to_millis(at))
        .bind(spent.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?
        .rows_affected()
            == 1;
        if spent_now {
            insert_refresh(&mut *tx, successor).await?;
            tx.commit().await.map_err(from_sqlx)?;
            return Ok(Rotation::Rotated);
        }
        let earlier: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT spent_at FROM refresh_tokens WHERE token_hash = ?")
                .bind(spent.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(match earlier {
            Some((Some(at),)) => Rotation::AlreadySpent(from_millis(at)),
            _ => Rotation::Unknown,
        })
    }

    async fn advance_generation(
        &self,
        session: SessionId,
        from: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET generation = generation + 1, renewed_at = ?, last_seen_at = ? \
             WHERE id = ? AND generation = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(to_millis(at))
        .bind(to_millis(at))
        .bind(session.to_string())
        .bind(from)
        .bind(to_millis(at))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }
}

async fn insert_refresh<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Sqlite>,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at, spent_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(record.token_hash.as_bytes().as_slice())
    .bind(record.session_id.to_string())
    .bind(record.generation)
    .bind(to_millis(record.created_at))
    .bind(record.spent_at.map(to_millis))
    .execute(db)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &SigningKey) -> Result<(), StoreError> {
        insert_key(&self.pool, key).await
    }

    async fn rotate_key(&self, key: &SigningKey, at: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(from_sqlx)?;
        sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        insert_key(&mut *tx, key).await?;
        tx.commit().await.map_err(from_sqlx)
    }

    async fn keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        sqlx::query_as::<_, KeyRow>(
            "SELECT kid, algorithm, private_der, public_key, created_at, retired_at \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?
        .into_iter()
        .map(SigningKey::try_from)
        .collect()
    }
}

async fn insert_key<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Sqlite>,
    key: &SigningKey,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_der, public_key, created_at, retired_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(key.algorithm.as_str())
    .bind(key.private_der.as_slice())
    .bind(key.public_key.as_slice())
    .bind(to_millis(key.created_at))
    .bind(key.retired_at.map(to_millis))
    .execute(db)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(from_migrate)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }
}
