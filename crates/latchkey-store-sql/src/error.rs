//! One place that decides what a sqlx error means to the domain.

use latchkey_core::StoreError;

/// Maps a sqlx error. Connection-level failures become
/// [`StoreError::Unavailable`] (the HTTP layer answers 503); a unique
/// violation becomes [`StoreError::Conflict`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => {
            StoreError::Unavailable(db.message().to_owned())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// SQLite's `SQLITE_BUSY` / `SQLITE_LOCKED` (and their extended codes):
/// another writer held the lock past the busy timeout.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

pub(crate) fn from_migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => from_sqlx(inner),
        other => StoreError::Backend(format!("migration failed: {other}")),
    }
}
