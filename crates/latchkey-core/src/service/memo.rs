//! The maps a request's check reads on every request: credentials already
//! checked, and session records.

use std::{
    fmt,
    hash::{BuildHasher, Hash},
    time::{Duration, Instant},
};

use quick_cache::{Equivalent, UnitWeighter, sync::Cache};

/// A bounded map whose entries are forgotten a fixed time after they were
/// put in.
///
/// Not moka, which the service's other caches use: these are read on every
/// authenticated request, and on these machines a request's price follows
/// the code it runs through more than its instructions. A quick_cache hit
/// is a hash, a shard's read lock (one atomic operation, never contended
/// by writers in the common case) and a flag; moka's also records the read
/// on a channel, pins an epoch and may run maintenance, several times the
/// code. What moka adds that is needed here, expiry, is a deadline kept
/// with the entry and compared on read. Stale entries are not swept: they
/// are overwritten by the next insert of their key or evicted when the map
/// is full, like any cold entry.
pub(super) struct Memo<K, V, S> {
    entries: Cache<K, Fresh<V>, UnitWeighter, S>,
    ttl: Duration,
}

#[derive(Clone)]
struct Fresh<V> {
    value: V,
    until: Instant,
}

impl<K: Eq + Hash, V: Clone, S: BuildHasher + Clone> Memo<K, V, S> {
    /// A map of at most about `capacity` entries, each forgotten `ttl`
    /// after it was inserted.
    pub(super) fn new(capacity: usize, ttl: Duration, hasher: S) -> Self {
        Self {
            entries: Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                hasher,
                Default::default(),
            ),
            ttl,
        }
    }

    /// The value under `key`, if it is there and fresh.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let fresh = self.entries.get(key)?;
        (Instant::now() < fresh.until).then_some(fresh.value)
    }

    /// Puts `value` under `key`, replacing what was there.
    pub(super) fn insert(&self, key: K, value: V) {
        let now = Instant::now();
        // A lifetime too long to represent is a lifetime beyond any run.
        let until = now
            .checked_add(self.ttl)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        self.entries.insert(key, Fresh { value, until });
    }

    /// Forgets `key`.
    pub(super) fn invalidate<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    /// Forgets everything.
    pub(super) fn invalidate_all(&self) {
        self.entries.clear();
    }

    /// How many entries it holds, stale ones included.
    pub(super) fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }
}

impl<K, V, S> fmt::Debug for Memo<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo(capacity: usize, ttl: Duration) -> Memo<Box<str>, u32, foldhash::quality::RandomState> {
        Memo::new(capacity, ttl, Default::default())
    }

    #[test]
    fn answers_what_was_put_in_until_it_is_taken_out() {
        let m = memo(100, Duration::from_secs(60));
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.get("b"), Some(2));
        assert_eq!(m.get("c"), None);
        m.insert("a".into(), 3);
        assert_eq!(m.get("a"), Some(3));
        m.invalidate("a");
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("b"), Some(2));
        m.invalidate_all();
        assert_eq!(m.get("b"), None);
        assert_eq!(m.entry_count(), 0);
    }

    #[test]
    fn forgets_entries_once_their_time_is_up() {
        let m = memo(100, Duration::from_millis(30));
        m.insert("a".into(), 1);
        assert_eq!(m.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(m.get("a"), None);
        // Putting it back makes it fresh again.
        m.insert("a".into(), 2);
        assert_eq!(m.get("a"), Some(2));
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing_and_a_huge_one_does_not_overflow() {
        let none = memo(100, Duration::ZERO);
        none.insert("a".into(), 1);
        assert_eq!(none.get("a"), None);
        let forever = memo(100, Duration::MAX);
        forever.insert("a".into(), 1);
        assert_eq!(forever.get("a"), Some(1));
    }

    #[test]
    fn stays_within_its_capacity() {
        let m = memo(1_000, Duration::from_secs(60));
        for i in 0..10_000u32 {
            m.insert(i.to_string().into(), i);
        }
        assert!(m.entry_count() <= 1_100, "{} entries", m.entry_count());
        // The newest entries are the ones most likely to be asked for.
        assert_eq!(m.get("9999"), Some(9999));
    }
}
