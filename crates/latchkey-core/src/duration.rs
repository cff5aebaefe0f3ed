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
    /// In the largest of the contract's units that states it exactly
    /// (`90d`, not humantime's `2months 29days 2h 52m 48s`), so `config
    /// check` prints what an operator would have written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u128); 5] = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let ms = self.0.as_millis();
        if self.0.subsec_nanos().is_multiple_of(1_000_000) && ms > 0 {
            for (unit, size) in UNITS {
                if ms.is_multiple_of(size) {
                    return write!(f, "{}{unit}", ms / size);
                }
            }
        }
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
    fn prints_in_the_largest_exact_unit_and_reads_back() {
        for (text, shown) in [
            ("90d", "90d"),
            ("30days", "30d"),
            ("36h", "36h"),
            ("90s", "90s"),
            ("1h 30m", "90m"),
            ("1500ms", "1500ms"),
            ("5m", "5m"),
        ] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<HumanDuration>(), Ok(d));
        }
    }

    #[test]
    fn refuses_nonsense_zero_and_huge() {
        for bad in ["", "abc", "5", "-5m", "0s", "100000d"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
    }
}
