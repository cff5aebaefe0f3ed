//! Builds the parts from settings: picks the store backend from the URL and
//! puts the service together. The only place that knows every crate.

use std::sync::Arc;

use crate::{
    cli::StoreArgs,
    config::{Config, redact_url},
};
use anyhow::{Context, bail};
use latchkey_core::{
    clock::SystemClock, event::EventPolicy, feed::RevocationFeed, password::PasswordHasher,
    ratelimit::RateLimiter, service::AuthService, session::SessionPolicy, store::Store,
};
use latchkey_redis::{RedisFeed, RedisLimiter};
use latchkey_store_sql::{PgStore, SqliteStore};

/// An open, migrated store, and the revocation feed its database offers
/// (PostgreSQL's `LISTEN/NOTIFY`; none for SQLite, whose one node needs
/// none).
pub(crate) struct Opened {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) feed: Option<Arc<dyn RevocationFeed>>,
}

/// Opens the database named by `url` (with at most `pool_size`
/// connections, for PostgreSQL) and brings its schema up to date.
pub(crate) async fn open_store(url: &str, pool_size: u32) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open(url, pool_size).await?.store)
}

/// Like [`open_store`], with the database's own revocation feed.
pub(crate) async fn open(url: &str, pool_size: u32) -> anyhow::Result<Opened> {
    let shown = redact_url(url);
    let (store, feed): (Arc<dyn Store>, Option<Arc<dyn RevocationFeed>>) =
        if url.starts_with("sqlite:") {
            let store = SqliteStore::connect(url)
                .await
                .with_context(|| format!("cannot open database {shown}"))?;
            (Arc::new(store), None)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let store = PgStore::connect(url, pool_size)
                .await
                .with_context(|| format!("cannot open database {shown}"))?;
            let feed = store.revocation_feed();
            (Arc::new(store), Some(Arc::new(feed)))
        } else {
            bail!("unsupported database URL {shown} (use sqlite://PATH?mode=rwc or postgres://…)");
        };
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate database {shown}"))?;
    Ok(Opened { store, feed })
}

/// The service over `store`, with the hasher's dummy hash computed off the
/// async executor.
pub(crate) async fn auth_service(
    store: Arc<dyn Store>,
    settings: &Config,
) -> anyhow::Result<AuthService> {
    let limits = settings.hash_limits;
    let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(limits))
        .await
        .context("password hasher setup failed")??;
    let policy = SessionPolicy {
        ttl: settings.session_ttl.as_time(),
        ..SessionPolicy::default()
    };
    let auth = AuthService::start(
        store,
        hasher,
        Arc::new(SystemClock),
        policy,
        settings.strategy_config(),
    )
    .await
    .context("cannot start the service")?;
    auth.set_anomaly_policy(settings.anomaly);
    auth.set_event_policy(EventPolicy {
        retention: settings.event_retention.as_time(),
    });
    Ok(auth)
}

/// The service for an admin command.
pub(crate) async fn admin_service(args: &StoreArgs) -> anyhow::Result<AuthService> {
    let settings = Config::for_admin(args)?;
    let store = open_store(&settings.database, settings.database_pool_size).await?;
    auth_service(store, &settings).await
}

/// What nodes share besides the database.
pub(crate) struct Fleet {
    /// How revocations reach the other nodes.
    pub(crate) feed: Option<Arc<dyn RevocationFeed>>,
    /// Shared rate-limit counters; `None` counts on this node.
    pub(crate) limiter: Option<Arc<dyn RateLimiter>>,
}

/// With `--redis`, Redis carries revocations and rate-limit counters;
/// otherwise the database's own feed (PostgreSQL `LISTEN/NOTIFY`) carries
/// revocations and each node counts for itself; a SQLite node is alone.
pub(crate) fn fleet(
    settings: &Config,
    database_feed: Option<Arc<dyn RevocationFeed>>,
) -> anyhow::Result<Fleet> {
    let namespace = &settings.redis_namespace;
    Ok(match &settings.redis {
        Some(url) => Fleet {
            feed: Some(Arc::new(
                RedisFeed::new(url, namespace).map_err(anyhow::Error::msg)?,
            )),
            limiter: Some(Arc::new(
                RedisLimiter::new(url, namespace).map_err(anyhow::Error::msg)?,
            )),
        },
        None => Fleet {
            feed: database_feed,
            limiter: None,
        },
    })
}
