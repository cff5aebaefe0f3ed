//! Rate limits: per client address, per (username, address) and, softer,
//! per username across addresses, so guessing is slowed without letting an
//! attacker lock a real user out from their own address.
//!
//! A [`RateLimiter`] keeps the counters: in memory (GCRA, from `governor`)
//! for one node, in Redis for a fleet, so every node counts the same
//! attempts.

use std::{
    collections::HashMap,
    fmt,
    num::NonZeroU32,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use governor::{
    DefaultKeyedRateLimiter, Quota as GovernorQuota, RateLimiter as Governor,
    clock::{Clock as _, DefaultClock},
};

/// `count` requests per `per`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a window, all at once if need be.
    pub count: u32,
    /// The window.
    pub per: Duration,
}

impl Quota {
    /// The time one request's allowance takes to come back (GCRA's
    /// emission interval).
    pub fn interval(self) -> Duration {
        self.per / self.count.max(1)
    }
}

impl FromStr for Quota {
    type Err = String;
    /// `"10/1m"`: ten per minute.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate {s:?} (use COUNT/DURATION, e.g. 10/1m, or off)");
        let (count, per) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = humantime::parse_duration(per.trim()).map_err(|_| bad())?;
        if count == 0 || per.is_zero() {
            return Err(bad());
        }
        Ok(Self { count, per })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Login attempts from one address.
    LoginIp,
    /// Login attempts for one username from one address.
    LoginUserIp,
    /// Login attempts for one username from anywhere (softer).
    LoginUser,
    /// Registrations from one address.
    RegisterIp,
    /// Refreshes from one address.
    RefreshIp,
}

impl LimitClass {
    /// The name in metrics and counter keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginIp => "login_ip",
            Self::LoginUserIp => "login_user_ip",
            Self::LoginUser => "login_user",
            Self::RegisterIp => "register_ip",
            Self::RefreshIp => "refresh_ip",
        }
    }
}

/// The quota of each class; `None` turns a class off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per class.
    pub quotas: HashMap<LimitClass, Option<Quota>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        let q = |count| Some(Quota { count, per: minute });
        Self {
            quotas: HashMap::from([
                (LimitClass::LoginIp, q(60)),
                (LimitClass::LoginUserIp, q(10)),
                (LimitClass::LoginUser, q(100)),
                (LimitClass::RegisterIp, q(20)),
                (LimitClass::RefreshIp, q(300)),
            ]),
        }
    }
}

impl RateLimits {
    /// The quota of `class`, if it is limited.
    pub fn quota(&self, class: LimitClass) -> Option<Quota> {
        self.quotas.get(&class).copied().flatten()
    }
}

/// Where the counters live.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Counts one request of `class` for `key`: `Ok(None)` if it is within
    /// `quota`, `Ok(Some(wait))` if the caller must wait that long.
    async fn check(
        &self,
        class: LimitClass,
        quota: Quota,
        key: &str,
    ) -> Result<Option<Duration>, String>;
}

/// One class's counters, and the quota they were made for.
type ClassLimiter = (Quota, Arc<DefaultKeyedRateLimiter<String>>);

/// In-process counters: one node.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    limiters: Mutex<HashMap<LimitClass, ClassLimiter>>,
}

impl MemoryLimiter {
    fn limiter(&self, class: LimitClass, quota: Quota) -> Arc<DefaultKeyedRateLimiter<String>> {
        let mut all = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = all
            .entry(class)
            .or_insert_with(|| (quota, Arc::new(build(quota))));
        if entry.0 != quota {
            *entry = (quota, Arc::new(build(quota)));
        }
        // Keyed stores grow with every new key: forget the idle ones now
        // and then (cheap next to the Argon2 work a login costs anyway).
        if entry.1.len() > 10_000 {
            entry.1.retain_recent();
        }
        entry.1.clone()
    }
}

fn build(quota: Quota) -> DefaultKeyedRateLimiter<String> {
    let burst = NonZeroU32::new(quota.count).unwrap_or(NonZeroU32::MIN);
    let governor = GovernorQuota::with_period(quota.interval().max(Duration::from_nanos(1)))
        .unwrap_or_else(|| GovernorQuota::per_second(burst))
        .allow_burst(burst);
    Governor::keyed(governor)
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(
        &self,
        class: LimitClass,
        quota: Quota,
        key: &str,
    ) -> Result<Option<Duration>, String> {
        let limiter = self.limiter(class, quota);
        Ok(match limiter.check_key(&key.to_owned()) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(DefaultClock::default().now())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        assert_eq!(
            "10/1m".parse::<Quota>(),
            Ok(Quota {
                count: 10,
                per: Duration::from_secs(60)
            })
        );
        for bad in ["", "10", "0/1m", "10/0s", "x/1m", "10/soon"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn memory_limiter_allows_the_burst_then_says_how_long_to_wait() {
        let limiter = MemoryLimiter::default();
        let quota = Quota {
            count: 3,
            per: Duration::from_secs(60),
        };
        for _ in 0..3 {
            assert_eq!(
                limiter.check(LimitClass::LoginIp, quota, "a").await,
                Ok(None)
            );
        }
        let wait = limiter
            .check(LimitClass::LoginIp, quota, "a")
            .await
            .unwrap()
            .unwrap();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Other keys and classes have their own counters.
        assert_eq!(
            limiter.check(LimitClass::LoginIp, quota, "b").await,
            Ok(None)
        );
        assert_eq!(
            limiter.check(LimitClass::RegisterIp, quota, "a").await,
            Ok(None)
        );
    }
}
