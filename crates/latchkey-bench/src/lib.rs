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
    /// Where its requests come from: the client the session is bound to,
    /// so every request pays for the binding check as in production.
    pub context: ClientContext,
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
    let context = ClientContext::new(
        Some([203, 0, 113, 7].into()),
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    );
    let login = auth
        .login(
            "bench",
            "correct horse battery staple",
            ClientKind::Mobile,
            context.clone(),
        )
        .await
        .expect("login");
    Fixture {
        auth,
        context,
        credential: login.credentials.access,
        _dir: dir,
    }
}
