//! The SQLite backend under test: a fresh database file in its own temp dir.

use std::sync::Arc;

use latchkey_core::store::Store;
use latchkey_store_sql::SqliteStore;
use tempfile::TempDir;

use crate::conformance::Backend;

/// One SQLite database file; the directory (and the file) is removed when
/// this is dropped.
pub(crate) struct SqliteBackend {
    _dir: TempDir,
    url: String,
}

impl Backend for SqliteBackend {
    async fn fresh() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("latchkey.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self { _dir: dir, url }
    }

    async fn connect(&self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::connect(&self.url)
                .await
                .expect("connect to SQLite"),
        )
    }
}

/// A migrated SQLite store in a fresh temp dir, for tests that need only a
/// store. Keep the backend alive as long as the store is used.
pub(crate) async fn migrated_store() -> (SqliteBackend, Arc<dyn Store>) {
    let backend = SqliteBackend::fresh().await;
    let store = backend.connect().await;
    store.migrate().await.expect("migrate");
    (backend, store)
}

crate::conformance::store_conformance_suite!(SqliteBackend);
