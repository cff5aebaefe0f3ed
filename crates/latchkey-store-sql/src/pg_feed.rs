//! The revocation feed of nodes that share a PostgreSQL and no Redis:
//! `NOTIFY` on publish, `LISTEN` in each node.

use async_trait::async_trait;
use latchkey_core::{
    feed::{self, Message, RevocationFeed},
    service::AuthService,
};
use sqlx::{PgPool, postgres::PgListener};

const CHANNEL: &str = "latchkey_revocations";

/// `LISTEN/NOTIFY` on the store's own database.
#[derive(Debug, Clone)]
pub struct PgFeed {
    pool: PgPool,
}

impl PgFeed {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Listens until the connection is lost.
    async fn listen_once(&self, service: &AuthService) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        // What was published while we were not listening is in the store.
        if let Err(e) = service.sync_revocations().await {
            tracing::warn!(error = %e, "revocation resync failed");
        }
        service.set_feed_up(true);
        // `try_recv` reports a lost connection as `None` rather than
        // silently reconnecting (and missing what came meanwhile).
        while let Some(notification) = listener.try_recv().await? {
            match feed::decode(notification.payload()) {
                Some(message) => service.apply_from_feed(self.name(), message),
                None => tracing::warn!("ignored a malformed revocation notification"),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RevocationFeed for PgFeed {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn publish(&self, message: Message) -> Result<(), String> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(feed::encode(&message))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn listen(&self, service: &AuthService) -> Result<(), String> {
        self.listen_once(service).await.map_err(|e| e.to_string())
    }
}
