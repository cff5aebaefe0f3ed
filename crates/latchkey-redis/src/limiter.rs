//! Rate-limit counters every node shares: GCRA in one Lua script, so a
//! check and its update are one atomic step in Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use latchkey_core::ratelimit::{LimitClass, MemoryLimiter, Quota, RateLimiter};
use redis::{Client, Script, aio::ConnectionManager};
use tokio::sync::OnceCell;

/// GCRA: each key holds its "theoretical arrival time" (µs). A request is
/// allowed unless it comes earlier than `tat - tau`; then the answer is how
/// many µs to wait.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tau = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if now < tat - tau then return tat - tau - now end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1)
return 0
";

/// Counters in Redis, falling back to this node's own while Redis cannot
/// be reached (limits stay in force, per node, rather than off).
#[derive(Debug)]
pub struct RedisLimiter {
    client: Client,
    conn: OnceCell<ConnectionManager>,
    namespace: String,
    script: Script,
    fallback: MemoryLimiter,
}

impl RedisLimiter {
    /// Counters on `url` under `namespace`.
    pub fn new(url: &str, namespace: &str) -> Result<Self, String> {
        Ok(Self {
            client: Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?,
            conn: OnceCell::new(),
            namespace: namespace.to_owned(),
            script: Script::new(GCRA),
            fallback: MemoryLimiter::default(),
        })
    }

    async fn shared(&self, class: LimitClass, quota: Quota, key: &str) -> redis::RedisResult<i64> {
        let mut conn = self
            .conn
            .get_or_try_init(|| self.client.get_connection_manager())
            .await?
            .clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let interval = quota.interval().as_micros();
        let tau = interval * u128::from(quota.count.saturating_sub(1));
        self.script
            .key(format!("{}:rl:{}:{key}", self.namespace, class.as_str()))
            .arg(now.to_string())
            .arg(interval.to_string())
            .arg(tau.to_string())
            .invoke_async(&mut conn)
            .await
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(
        &self,
        class: LimitClass,
        quota: Quota,
        key: &str,
    ) -> Result<Option<Duration>, String> {
        match self.shared(class, quota, key).await {
            Ok(0) => Ok(None),
            Ok(wait_us) => Ok(Some(Duration::from_micros(wait_us.unsigned_abs()))),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate-limit counters unreachable; counting on this node");
                self.fallback.check(class, quota, key).await
            }
        }
    }
}
