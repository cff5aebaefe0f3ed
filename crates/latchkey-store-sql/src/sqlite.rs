//! The embedded default: one SQLite file in WAL mode.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use latchkey_core::{
    StoreError,
    clock::{from_millis, to_millis},
    event::{EventCursor, SecurityEvent},
    ids::{SessionId, UserId},
    keys::SigningKey,
    secret::TokenHash,
    session::{ClientContext, RevocationReason, Session},
    store::{
        EventStore, KeyStore, RefreshRecord, RefreshStore, Rotation, SessionStore, Store, UserStore,
    },
    user::{User, Username},
};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use time::OffsetDateTime;

use crate::{
    error::{from_migrate, from_sqlx},
    rows::{EventRow, KeyRow, RefreshRow, SessionRow, UserRow},
    shared::{session_columns, sql_store},
};

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

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "BEGIN IMMEDIATE",
    "./migrations/sqlite"
);
