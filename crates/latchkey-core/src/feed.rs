//! How nodes tell each other of revocations at once.
//!
//! Every revocation is written to the store first; a feed only makes the
//! other nodes hear of it in milliseconds instead of at their next store
//! poll. A node whose feed is down checks the store for revocations on
//! every request until it is back: slower, never unsafe.

use std::{fmt, str::FromStr};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    clock::{from_millis, to_millis},
    ids::SessionId,
    revocation::Revocation,
    service::AuthService,
};

/// A shared channel of revocations (PostgreSQL `LISTEN/NOTIFY`, Redis).
#[async_trait]
pub trait RevocationFeed: Send + Sync + fmt::Debug {
    /// A short name for logs, metrics and `/readyz`.
    fn name(&self) -> &'static str;
    /// Tells the other nodes of `revocation`.
    async fn publish(&self, revocation: Revocation) -> Result<(), String>;
    /// Connects, resyncs from the store (what was published while this
    /// node was not listening is lost), reports the feed up through
    /// [`AuthService::set_feed_up`], and delivers every revocation the feed
    /// carries to [`AuthService::apply_remote`] until the connection is
    /// lost.
    async fn listen(&self, service: &AuthService) -> Result<(), String>;

    /// Listens for as long as the process runs, reconnecting with backoff
    /// and reporting the feed down while it is not connected.
    async fn run(&self, service: AuthService) {
        let mut attempt = 0;
        loop {
            match self.listen(&service).await {
                Ok(()) => attempt = 0,
                Err(e) => {
                    tracing::debug!(feed = self.name(), error = %e, "revocation feed connection failed");
                    attempt += 1;
                }
            }
            service.set_feed_up(false);
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// The wire form of a revocation: `"<session id> <until, Unix ms>"`.
pub fn encode(revocation: &Revocation) -> String {
    format!("{} {}", revocation.session, to_millis(revocation.until))
}

/// Parses [`encode`]'s output; anything else is `None` (and ignored).
pub fn decode(text: &str) -> Option<Revocation> {
    let (session, until) = text.split_once(' ')?;
    Some(Revocation {
        session: SessionId::from_str(session).ok()?,
        until: from_millis(until.parse().ok()?),
    })
}

/// Milliseconds to wait before reconnection attempt `attempt` (from 0):
/// doubling from 100 ms, at most 5 s.
pub fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

/// `until` as the score Redis keeps revocations by.
pub fn score(until: OffsetDateTime) -> i64 {
    to_millis(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::truncate_to_millis;

    #[test]
    fn wire_form_round_trips_and_garbage_is_ignored() {
        let r = Revocation {
            session: SessionId::new(),
            until: truncate_to_millis(OffsetDateTime::now_utc()),
        };
        assert_eq!(decode(&encode(&r)), Some(r));
        for bad in [
            "",
            "x",
            "not-a-uuid 5",
            "00000000-0000-0000-0000-000000000000 soon",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(0).as_millis(), 100);
        assert_eq!(backoff(1).as_millis(), 200);
        assert_eq!(backoff(30).as_millis(), 5_000);
    }
}
