//! PostgreSQL, for deployments of several nodes.

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
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use time::OffsetDateTime;

use crate::{
    error::{from_migrate, from_sqlx},
    rows::{EventRow, KeyRow, RefreshRow, SessionRow, UserRow},
    shared::{session_columns, sql_store},
};

/// A SQLite database behind a connection pool.
/// A PostgreSQL database behind a connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects with at most `pool_size` connections. Does not migrate;
    /// call [`Store::migrate`]. A database that does not answer within a
    /// few seconds is [`StoreError::Unavailable`], here and on every later
    /// call, so requests fail fast instead of hanging.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?
            .application_name("latchkey");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A revocation feed over this database's `LISTEN/NOTIFY`.
    pub fn revocation_feed(&self) -> crate::PgFeed {
        crate::PgFeed::new(self.pool.clone())
    }
}

sql_store!(PgStore, sqlx::Postgres, "BEGIN", "./migrations/postgres");
