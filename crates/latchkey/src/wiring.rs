//! Builds the parts from settings: picks the store backend from the URL and
//! puts the service together. The only place that knows every crate.

use std::sync::Arc;

use crate::{
    cli::StoreArgs,
    config::{Settings, redact_url},
};
use anyhow::{Context, bail};
use latchkey_core::{
    clock::SystemClock, password::PasswordHasher, service::AuthService, session::SessionPolicy,
    store::Store,
};
use latchkey_store_sql::{PgStore, SqliteStore};

/// Opens the database named by `url` (with at most `pool_size`
/// connections, for PostgreSQL) and brings its schema up to date.
pub(crate) async fn open_store(url: &str, pool_size: u32) -> anyhow::Result<Arc<dyn Store>> {
    let shown = redact_url(url);
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(
            SqliteStore::connect(url)
                .await
                .with_context(|| format!("cannot open database {shown}"))?,
        )
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(
            PgStore::connect(url, pool_size)
                .await
                .with_context(|| format!("cannot open database {shown}"))?,
        )
    } else {
        bail!("unsupported database URL {shown} (use sqlite://PATH?mode=rwc or postgres://…)");
    };
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate database {shown}"))?;
    Ok(store)
}

/// The service over `store`, with the hasher's dummy hash computed off the
/// async executor.
pub(crate) async fn auth_service(
    store: Arc<dyn Store>,
    settings: &Settings,
) -> anyhow::Result<AuthService> {
    let limits = settings.hash_limits;
    let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(limits))
        .await
        .context("password hasher setup failed")??;
    let policy = SessionPolicy {
        ttl: settings.session_ttl.as_time(),
        ..SessionPolicy::default()
    };
    AuthService::start(
        store,
        hasher,
        Arc::new(SystemClock),
        policy,
        settings.strategy_config(),
    )
    .await
    .context("cannot start the service")
}

/// The service for an admin command.
pub(crate) async fn admin_service(args: &StoreArgs) -> anyhow::Result<AuthService> {
    let settings = Settings::for_admin(args)?;
    let store = open_store(&settings.database, settings.database_pool_size).await?;
    auth_service(store, &settings).await
}
