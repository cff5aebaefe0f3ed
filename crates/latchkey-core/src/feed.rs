//! How nodes tell each other of revocations at once.
//!
//! Every revocation is written to the store first; a feed only makes the
//! other nodes hear of it in milliseconds instead of at their next store
//! poll. A node whose feed is down checks the store for revocations on
//! every request until it is back: slower, never unsafe.
//!
//! # Wire form
//!
//! A message is `"<session id> <until, Unix ms> <published, Unix ms>"`:
//! the publishing node's time lets the others measure how late revocations
//! reach them (`latchkey_revocation_feed_lag_seconds`). Messages without
//! the third field, from nodes older than it, are applied without a lag;
//! fields after the third are ignored, so a later version can add some
//! without this one dropping its messages.
//!
//! The version before the third field accepts exactly two and drops (with
//! a warning, `ignored a malformed revocation …`) a message with three. In
//! a rolling upgrade from it, the nodes not yet upgraded therefore miss the
//! feed messages of upgraded nodes and pick those revocations up at their
//! next store poll (250 ms) instead: later, never lost. Publishing both
//! forms would have kept them fast for the length of an upgrade, at the
//! price of every revocation sent twice on every node for good.

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
    /// Tells the other nodes of a revocation ([`encode`] is its wire form).
    async fn publish(&self, message: Message) -> Result<(), String>;
    /// Connects, resyncs from the store (what was published while this
    /// node was not listening is lost), reports the feed up through
    /// [`AuthService::set_feed_up`], and delivers every message the feed
    /// carries to [`AuthService::apply_from_feed`] until the connection is
    /// lost. Revocations replayed while catching up, rather than heard of
    /// as they were published, go to [`AuthService::apply_remote`]: they
    /// would only skew the lag.
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

/// A revocation as a feed carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The revoked session, and until when its tokens must be refused.
    pub revocation: Revocation,
    /// When the revoking node published it, by that node's clock, to the
    /// millisecond; `None` in a message from a node older than this field.
    pub published_at: Option<OffsetDateTime>,
}

/// The wire form of a message: `"<session id> <until, Unix ms>
/// <published, Unix ms>"` (see the [module docs](self)).
pub fn encode(message: &Message) -> String {
    let Message {
        revocation,
        published_at,
    } = message;
    match published_at {
        Some(at) => format!(
            "{} {} {}",
            revocation.session,
            to_millis(revocation.until),
            to_millis(*at)
        ),
        None => format!("{} {}", revocation.session, to_millis(revocation.until)),
    }
}

/// Parses [`encode`]'s output, and the two-field form of older nodes;
/// fields after the third are ignored. Anything else is `None` (and
/// ignored by the feeds).
pub fn decode(text: &str) -> Option<Message> {
    let mut fields = text.split(' ');
    let session = SessionId::from_str(fields.next()?).ok()?;
    let until = from_millis(fields.next()?.parse().ok()?);
    let published_at = match fields.next() {
        None => None,
        Some(at) => Some(from_millis(at.parse().ok()?)),
    };
    Some(Message {
        revocation: Revocation { session, until },
        published_at,
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
        let now = truncate_to_millis(OffsetDateTime::now_utc());
        let revocation = Revocation {
            session: SessionId::new(),
            until: now + time::Duration::minutes(5),
        };
        let message = Message {
            revocation,
            published_at: Some(now),
        };
        let text = encode(&message);
        assert_eq!(text.split(' ').count(), 3, "{text}");
        assert_eq!(decode(&text), Some(message));
        for bad in [
            "",
            "x",
            "not-a-uuid 5",
            "00000000-0000-0000-0000-000000000000 soon",
            "00000000-0000-0000-0000-000000000000 5 later",
            "00000000-0000-0000-0000-000000000000  5",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn older_and_newer_nodes_messages_are_understood() {
        let now = truncate_to_millis(OffsetDateTime::now_utc());
        let revocation = Revocation {
            session: SessionId::new(),
            until: now,
        };
        // What the nodes before the publish time sent.
        let old = format!("{} {}", revocation.session, to_millis(now));
        assert_eq!(
            decode(&old),
            Some(Message {
                revocation,
                published_at: None
            })
        );
        let unstamped = Message {
            revocation,
            published_at: None,
        };
        assert_eq!(encode(&unstamped), old);
        // A later version's extra fields are ignored.
        let newer = format!("{old} {} some-future-field", to_millis(now));
        assert_eq!(
            decode(&newer),
            Some(Message {
                revocation,
                published_at: Some(now)
            })
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(0).as_millis(), 100);
        assert_eq!(backoff(1).as_millis(), 200);
        assert_eq!(backoff(30).as_millis(), 5_000);
    }
}
