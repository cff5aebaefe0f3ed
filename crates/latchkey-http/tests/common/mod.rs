//! The service the in-process router tests run over: a real SQLite store
//! in a temporary directory, and the cheapest Argon2 there is (these tests
//! are about HTTP, and many of their cases log in).

use std::sync::Arc;

use latchkey_core::{
    clock::SystemClock,
    password::{HashLimits, HashParams, PasswordHasher},
    service::AuthService,
    session::SessionPolicy,
    store::Store,
    strategy::StrategyConfig,
};
use latchkey_store_sql::SqliteStore;
use tempfile::TempDir;

/// A started service in `config`'s strategy, its database in `dir`.
pub(crate) async fn service(dir: &TempDir, config: StrategyConfig) -> AuthService {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let store = SqliteStore::connect(&url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let hasher = PasswordHasher::with_params(
        HashParams::new(8, 1, 1, None).expect("params"),
        HashLimits {
            max_in_flight: 2,
            max_waiting: 256,
        },
    )
    .expect("hasher");
    AuthService::start(
        Arc::new(store),
        hasher,
        Arc::new(SystemClock),
        SessionPolicy::default(),
        config,
    )
    .await
    .expect("service")
}
