//! Redis for a fleet: the shared rate-limit counters ([`RedisLimiter`]) and
//! the revocation feed ([`RedisFeed`]): `PUBLISH` for speed, a sorted set for the
//! revocations a node missed while it was disconnected (Redis pub/sub
//! delivers at most once).
//!
//! Every revocation is `ZADD <ns>:revoked <until ms> <payload>` and
//! `PUBLISH <ns>:revocations <payload>`. A node that (re)subscribes
//! reads the set's live part (`ZRANGEBYSCORE now +inf`) before it reports
//! the feed up; entries past their `until` are trimmed on every publish.
#![forbid(unsafe_code)]

use async_trait::async_trait;
use futures_util::StreamExt;
use latchkey_core::{
    feed::{self, Message, RevocationFeed},
    service::AuthService,
};
use redis::{AsyncCommands, Client, aio::ConnectionManager};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

mod limiter;

pub use limiter::RedisLimiter;

/// A Redis server shared by the fleet. Every key and channel starts with
/// the deployment's namespace, so deployments can share a Redis.
#[derive(Debug)]
pub struct RedisFeed {
    client: Client,
    /// Connected on first publish; reconnects on its own.
    publisher: OnceCell<ConnectionManager>,
    channel: String,
    set: String,
}

impl RedisFeed {
    /// A feed on `url` (`redis://HOST:PORT/`) under `namespace`. Only the
    /// URL is checked here: an unreachable server leaves the node running
    /// on store checks.
    pub fn new(url: &str, namespace: &str) -> Result<Self, String> {
        let client = Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(Self {
            client,
            publisher: OnceCell::new(),
            channel: format!("{namespace}:revocations"),
            set: format!("{namespace}:revoked"),
        })
    }

    async fn publisher(&self) -> redis::RedisResult<ConnectionManager> {
        self.publisher
            .get_or_try_init(|| self.client.get_connection_manager())
            .await
            .cloned()
    }

    /// Subscribes, catches up from the set, and applies messages until the
    /// connection is lost.
    async fn listen_once(&self, service: &AuthService) -> redis::RedisResult<()> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        let now = feed::score(OffsetDateTime::now_utc());
        let missed: Vec<String> = conn.zrangebyscore(&self.set, now, "+inf").await?;
        // Caught up, not heard of as published: applied without a lag.
        for message in missed.iter().filter_map(|p| feed::decode(p)) {
            service.apply_remote(message.revocation);
        }
        if let Err(e) = service.sync_revocations().await {
            tracing::warn!(error = %e, "revocation resync failed");
        }
        service.set_feed_up(true);
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            match message
                .get_payload::<String>()
                .ok()
                .as_deref()
                .and_then(feed::decode)
            {
                Some(message) => service.apply_from_feed(self.name(), message),
                None => tracing::warn!("ignored a malformed revocation message"),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RevocationFeed for RedisFeed {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, message: Message) -> Result<(), String> {
        let mut conn = self.publisher().await.map_err(|e| e.to_string())?;
        let payload = feed::encode(&message);
        let now = feed::score(OffsetDateTime::now_utc());
        redis::pipe()
            .atomic()
            .zadd(&self.set, &payload, feed::score(message.revocation.until))
            .ignore()
            .zrembyscore(&self.set, "-inf", now)
            .ignore()
            .publish(&self.channel, &payload)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    async fn listen(&self, service: &AuthService) -> Result<(), String> {
        self.listen_once(service).await.map_err(|e| e.to_string())
    }
}
