//! Durations as the contract writes them: `500ms`, `30s`, `5m`, `12h`, `30d`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer};

/// A positive duration parsed from a human string; the same type serves the
/// command line, the environment and the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(std::time::Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (use e.g. 500ms, 30s, 5m, 12h, 30d)")]
pub struct DurationError {
    input: String,
    reason: String,
}

impl HumanDuration {
    /// Wraps an exact duration.
    pub const fn from_std(d: std::time::Duration) -> Self {
        Self(d)
    }

    /// The duration as a `std` value.
    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// The duration as a `time` value; saturates instead of overflowing.
    pub fn as_time(self) -> time::Duration {
        time::Duration::try_from(self.0).unwrap_or(time::Duration::MAX)
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| DurationError {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let d = humantime::parse_duration(s.trim()).map_err(|e| err(&e.to_string()))?;
        if d.is_zero() {
            return Err(err("must be greater than zero"));
        }
        // Ten years: longer is a typo, and would overflow date arithmetic.
        if d > std::time::Duration::from_secs(10 * 366 * 24 * 3600) {
            return Err(err("must be at most ten years"));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_units() {
        let secs = |s: &str| s.parse::<HumanDuration>().map(|d| d.as_std().as_millis());
        assert_eq!(secs("500ms"), Ok(500));
        assert_eq!(secs("30s"), Ok(30_000));
        assert_eq!(secs("5m"), Ok(300_000));
        assert_eq!(secs("12h"), Ok(43_200_000));
        assert_eq!(secs("30d"), Ok(2_592_000_000));
    }

    #[test]
    fn refuses_nonsense_zero_and_huge() {
        for bad in ["", "abc", "5", "-5m", "0s", "100000d"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
    }
}
