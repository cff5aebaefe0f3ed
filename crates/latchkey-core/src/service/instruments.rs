//! The service's own metrics: the caches of the per-request path, how late
//! revocations reach this node, and the anomalies it detects.
//!
//! The per-request ones are handles taken once, when the service starts:
//! `metrics::counter!` with labels hashes its key and looks it up in the
//! recorder on every call, a handle is one atomic add. A handle taken
//! before the process installs its recorder stays a no-op, so the binary
//! (and an embedding app) installs the recorder first.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};
use time::OffsetDateTime;

use crate::anomaly::{AnomalyAction, AnomalyKind};

/// Lookups of the in-memory caches on the per-request path.
const CACHE_LOOKUPS: &str = "latchkey_cache_lookups_total";
/// Entries in those caches (approximate, refreshed every few seconds).
const CACHE_ENTRIES: &str = "latchkey_cache_entries";
/// Sessions on the deny-list.
const DENY_LIST_ENTRIES: &str = "latchkey_revocation_deny_list_entries";
/// Publish (or store write) to apply, for revocations first heard of here.
const FEED_LAG: &str = "latchkey_revocation_feed_lag_seconds";
/// Anomalies detected, by kind and what the policy did.
const ANOMALIES: &str = "latchkey_anomalies_total";

/// Hit and miss counters of one cache.
#[derive(Debug)]
pub(super) struct CacheCounters {
    hit: Counter,
    miss: Counter,
    entries: Gauge,
}

impl CacheCounters {
    fn new(cache: &'static str) -> Self {
        Self {
            hit: metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => "hit"),
            miss: metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => "miss"),
            entries: metrics::gauge!(CACHE_ENTRIES, "cache" => cache),
        }
    }

    /// Counts a lookup that found its entry.
    #[inline]
    pub(super) fn hit(&self) {
        self.hit.increment(1);
    }

    /// Counts a lookup that did not.
    #[inline]
    pub(super) fn miss(&self) {
        self.miss.increment(1);
    }

    /// Reports how many entries the cache holds.
    pub(super) fn entries(&self, n: u64) {
        // Exact: the caches hold at most 100 000 entries.
        self.entries.set(n as f64);
    }
}

/// The service's metric handles.
#[derive(Debug)]
pub(super) struct ServiceMetrics {
    /// `session` and `stateful-jwt`: session records.
    pub(super) session_cache: CacheCounters,
    /// The JWT strategies: tokens whose signature has been verified.
    pub(super) token_cache: CacheCounters,
    /// Sessions on the deny-list.
    pub(super) deny_list: Gauge,
    /// Revocations the store poll applied before any feed did.
    poll_lag: Histogram,
    /// Revocations the live feed delivered first, once a feed is attached.
    feed_lag: OnceLock<(&'static str, Histogram)>,
    /// By kind, then action.
    anomalies: [[Counter; 3]; 2],
    /// Spent refresh tokens or old token generations presented again.
    reuse: Counter,
}

impl ServiceMetrics {
    /// Takes every handle from the recorder installed now.
    pub(super) fn new() -> Self {
        let anomaly = |kind: AnomalyKind| {
            [AnomalyAction::Allow, AnomalyAction::Log, AnomalyAction::Revoke].map(|action| {
                metrics::counter!(ANOMALIES, "reason" => kind.as_str(), "action" => action.as_str())
            })
        };
        Self {
            session_cache: CacheCounters::new("session"),
            token_cache: CacheCounters::new("token"),
            deny_list: metrics::gauge!(DENY_LIST_ENTRIES),
            poll_lag: metrics::histogram!(FEED_LAG, "feed" => "poll"),
            feed_lag: OnceLock::new(),
            anomalies: [
                anomaly(AnomalyKind::UserAgentChanged),
                anomaly(AnomalyKind::IpChanged),
            ],
            reuse: metrics::counter!(ANOMALIES, "reason" => "refresh_reuse", "action" => "revoke"),
        }
    }

    /// Takes the lag histogram of the feed `name`.
    pub(super) fn attach_feed(&self, name: &'static str) {
        let _ = self
            .feed_lag
            .set((name, metrics::histogram!(FEED_LAG, "feed" => name)));
    }

    /// Records a revocation published (or written to the store) at
    /// `published` and applied here at `now`, heard of through `feed`. A
    /// negative lag (the clocks of the two nodes disagree) counts as 0.
    pub(super) fn lag(&self, feed: &'static str, published: OffsetDateTime, now: OffsetDateTime) {
        let seconds = lag_seconds(published, now);
        match self.feed_lag.get() {
            Some((name, histogram)) if *name == feed => histogram.record(seconds),
            _ if feed == "poll" => self.poll_lag.record(seconds),
            _ => metrics::histogram!(FEED_LAG, "feed" => feed).record(seconds),
        }
    }

    /// Counts one anomaly of `kind` and what the policy did about it.
    pub(super) fn anomaly(&self, kind: AnomalyKind, action: AnomalyAction) {
        let by_kind = match kind {
            AnomalyKind::UserAgentChanged => &self.anomalies[0],
            AnomalyKind::IpChanged => &self.anomalies[1],
        };
        let counter = match action {
            AnomalyAction::Allow => &by_kind[0],
            AnomalyAction::Log => &by_kind[1],
            AnomalyAction::Revoke => &by_kind[2],
        };
        counter.increment(1);
    }

    /// Counts one detected reuse of a spent credential.
    pub(super) fn reuse(&self) {
        self.reuse.increment(1);
    }
}

/// Seconds from `published` to `now`; 0 when `now` is earlier (the clocks
/// of two nodes disagree).
fn lag_seconds(published: OffsetDateTime, now: OffsetDateTime) -> f64 {
    (now - published).as_seconds_f64().max(0.0)
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn lag_is_never_negative() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        assert!((lag_seconds(now - Duration::milliseconds(1500), now) - 1.5).abs() < 1e-9);
        assert!(lag_seconds(now, now).abs() < f64::EPSILON);
        assert!(lag_seconds(now + Duration::seconds(3), now).abs() < f64::EPSILON);
    }

    #[test]
    fn handles_without_a_recorder_are_inert() {
        let metrics = ServiceMetrics::new();
        metrics.session_cache.hit();
        metrics.token_cache.miss();
        metrics.attach_feed("redis");
        let now = OffsetDateTime::now_utc();
        metrics.lag("redis", now, now);
        metrics.lag("poll", now, now);
        metrics.lag("other", now, now);
        metrics.anomaly(AnomalyKind::IpChanged, AnomalyAction::Log);
        metrics.reuse();
    }
}
