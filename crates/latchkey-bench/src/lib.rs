//! Fixtures shared by the benchmarks: a service of a given strategy over a
//! real SQLite store in a temporary directory, with a user signed in.
#![forbid(unsafe_code)]

use std::sync::Arc;

use latchkey_core::{
    clock::SystemClock,
    password::{HashLimits, PasswordHasher},
    service::AuthService,
    session::{ClientContext, ClientKind, SessionPolicy},
    store::Store,
    strategy::{Strategy, StrategyConfig},
};
use latchkey_store_sql::SqliteStore;
use tempfile::TempDir;

/// A running service and the credential of one signed-in user.
pub struct Fixture {
    /// The service under test.
    pub auth: AuthService,
    /// What that user's client presents on each request.
    pub credential: String,
    _dir: TempDir,
}

/// Builds a [`Fixture`] for `strategy`.
pub async fn fixture(strategy: Strategy) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = SqliteStore::connect(&url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let config = StrategyConfig {
        strategy,
        ..StrategyConfig::default()
    };
    let hasher = PasswordHasher::new(HashLimits::default()).expect("hasher");
    let auth = AuthService::start(
        Arc::new(store),
        hasher,
        Arc::new(SystemClock),
        SessionPolicy::default(),
        config,
    )
    .await
    .expect("service");
    auth.register("bench", "correct horse battery staple")
        .await
        .expect("register");
    let login = auth
        .login(
            "bench",
            "correct horse battery staple",
            ClientKind::Mobile,
            ClientContext::default(),
        )
        .await
        .expect("login");
    Fixture {
        auth,
        credential: login.credentials.access,
        _dir: dir,
    }
}
