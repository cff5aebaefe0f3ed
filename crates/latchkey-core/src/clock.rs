//! The time source. Everything that asks "is this expired?" asks a [`Clock`],
//! so tests can move time instead of sleeping.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use time::{Duration, OffsetDateTime};

/// Where the service reads the current time from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Milliseconds since the Unix epoch: how every backend stores instants, so
/// the SQL stays the same across dialects.
pub fn to_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch
/// rather than fail, since they can only come from a corrupted row.
pub fn from_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `at` truncated to whole milliseconds, the precision the stores keep, so a
/// value survives a round trip through any backend unchanged.
pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    // Every request reads the clock: the usual case (UTC, after 1970)
    // without the 128-bit arithmetic of the round trip. Both give the same.
    if at.offset().is_utc()
        && at.year() >= 1970
        && let Ok(truncated) = at.replace_nanosecond(at.nanosecond() / 1_000_000 * 1_000_000)
    {
        return truncated;
    }
    from_millis(to_millis(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncating_is_the_millisecond_round_trip() {
        for at in [
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::UNIX_EPOCH + Duration::nanoseconds(999_999),
            OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1_500_000),
            OffsetDateTime::UNIX_EPOCH + Duration::new(1_764_460_800, 123_456_789),
            (OffsetDateTime::UNIX_EPOCH + Duration::new(1_764_460_800, 987_654_321))
                .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap()),
        ] {
            assert_eq!(truncate_to_millis(at), from_millis(to_millis(at)), "{at}");
            assert_eq!(truncate_to_millis(at).offset(), time::UtcOffset::UTC);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let clock = ManualClock::new(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::seconds(90));
        assert_eq!(clock.now(), start + Duration::seconds(90));
    }

    #[test]
    fn millis_round_trip() {
        let at = truncate_to_millis(OffsetDateTime::now_utc());
        assert_eq!(from_millis(to_millis(at)), at);
    }
}
