//! Settings, layered as the contract says: flag > environment > file >
//! default. clap already resolves flag > env (`LATCHKEY_<FLAG>`); settings
//! without a flag read `LATCHKEY_<KEY>` here. The file is TOML with the
//! same names (`_` for `-`), and an unknown key is an error.

use std::{fmt, net::SocketAddr, path::Path, str::FromStr};

use anyhow::{Context, bail};
use ipnet::IpNet;
use latchkey_core::{
    anomaly::AnomalyPolicy,
    duration::HumanDuration,
    keys::KeyAlgorithm,
    password::HashLimits,
    ratelimit::{LimitClass, Quota, RateLimits},
    strategy::{Strategy, StrategyConfig},
};
use latchkey_http::{CookieSecure, ForwardedHeader};
use serde::Deserialize;

use crate::cli::{ServeArgs, StoreArgs};

/// The default database: a file in the working directory, created on first
/// start.
pub(crate) const DEFAULT_DATABASE: &str = "sqlite://latchkey.db?mode=rwc";
const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    database: Option<String>,
    redis: Option<String>,
    strategy: Option<String>,
    access_ttl: Option<String>,
    session_ttl: Option<String>,
    cookie_secure: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    request_timeout: Option<String>,
    header_read_timeout: Option<String>,
    body_limit: Option<usize>,
    password_hash_concurrency: Option<usize>,
    password_hash_queue: Option<usize>,
    log_format: Option<String>,
    jwt_algorithm: Option<String>,
    jwt_issuer: Option<String>,
    clock_leeway: Option<String>,
    session_cache_ttl: Option<String>,
    key_poll_interval: Option<String>,
    refresh_grace: Option<String>,
    database_pool_size: Option<u32>,
    redis_namespace: Option<String>,
    rate_limit_login_per_ip: Option<String>,
    rate_limit_login_per_user_ip: Option<String>,
    rate_limit_login_per_user: Option<String>,
    rate_limit_register_per_ip: Option<String>,
    rate_limit_refresh_per_ip: Option<String>,
    forwarded_header: Option<String>,
    on_user_agent_change: Option<String>,
    on_ip_change: Option<String>,
    event_retention: Option<String>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("invalid log format {other:?} (use pretty or json)")),
        }
    }
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) bind: SocketAddr,
    pub(crate) database: String,
    pub(crate) redis: Option<String>,
    pub(crate) strategy: Strategy,
    pub(crate) access_ttl: HumanDuration,
    pub(crate) session_ttl: HumanDuration,
    pub(crate) cookie_secure: CookieSecure,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) request_timeout: HumanDuration,
    pub(crate) header_read_timeout: HumanDuration,
    pub(crate) body_limit: usize,
    pub(crate) hash_limits: HashLimits,
    pub(crate) log_format: LogFormat,
    pub(crate) jwt_algorithm: KeyAlgorithm,
    pub(crate) jwt_issuer: String,
    pub(crate) clock_leeway: HumanDuration,
    pub(crate) session_cache_ttl: HumanDuration,
    pub(crate) key_poll_interval: HumanDuration,
    pub(crate) refresh_grace: HumanDuration,
    pub(crate) database_pool_size: u32,
    pub(crate) redis_namespace: String,
    pub(crate) rate_limits: RateLimits,
    pub(crate) forwarded_header: ForwardedHeader,
    pub(crate) anomaly: AnomalyPolicy,
    pub(crate) event_retention: HumanDuration,
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let why = e.message().to_owned();
        anyhow::anyhow!("invalid config file {}: {why}", path.display())
    })
}

/// A setting that has no flag: `LATCHKEY_<KEY>` beats the file.
fn env_or(key: &str, file: Option<String>) -> anyhow::Result<Option<String>> {
    let var = format!("LATCHKEY_{}", key.to_uppercase());
    match std::env::var(&var) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(file),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{var} is not valid UTF-8"),
    }
}

fn parse<T: FromStr>(key: &str, value: Option<String>, default: &str) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse()
        .map_err(|e| anyhow::anyhow!("invalid {key} {text:?}: {e}"))
}

fn parse_proxy(text: &str) -> anyhow::Result<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            anyhow::anyhow!(
                "invalid trusted_proxies entry {text:?} (use a CIDR such as 10.0.0.0/8)"
            )
        })
}

/// The limited classes and their setting names.
const RATE_LIMIT_KEYS: [(LimitClass, &str); 5] = [
    (LimitClass::LoginIp, "rate_limit_login_per_ip"),
    (LimitClass::LoginUserIp, "rate_limit_login_per_user_ip"),
    (LimitClass::LoginUser, "rate_limit_login_per_user"),
    (LimitClass::RegisterIp, "rate_limit_register_per_ip"),
    (LimitClass::RefreshIp, "rate_limit_refresh_per_ip"),
];

/// Each class's quota from `LATCHKEY_<KEY>`, the file, or the default;
/// `off` turns a class off.
fn rate_limits<const N: usize>(
    classes: [(LimitClass, &str, Option<String>); N],
) -> anyhow::Result<RateLimits> {
    let mut limits = RateLimits::default();
    for (class, key, file) in classes {
        if let Some(text) = env_or(key, file)? {
            let quota = if text.trim() == "off" {
                None
            } else {
                Some(
                    text.parse::<Quota>()
                        .map_err(|e| anyhow::anyhow!("invalid {key}: {e}"))?,
                )
            };
            limits.quotas.insert(class, quota);
        }
    }
    Ok(limits)
}

/// The database URL for commands other than `serve`.
pub(crate) fn database_url(args: &StoreArgs) -> anyhow::Result<String> {
    let file = read_file(args.config.as_deref())?;
    Ok(args
        .database
        .clone()
        .or(file.database)
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()))
}

impl Settings {
    /// Resolves and validates every setting of `serve`.
    pub(crate) fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.store.config.as_deref())?;
        let database = args
            .store
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let strategy: Strategy = parse(
            "strategy",
            args.strategy.clone().or(file.strategy),
            "session",
        )?;
        let trusted_proxies = match (&args.trusted_proxies, file.trusted_proxies) {
            (Some(list), _) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(parse_proxy)
                .collect::<anyhow::Result<_>>()?,
            (None, Some(list)) => list
                .iter()
                .map(|s| parse_proxy(s))
                .collect::<anyhow::Result<_>>()?,
            (None, None) => Vec::new(),
        };
        let defaults = HashLimits::default();
        let hash_limits = HashLimits {
            max_in_flight: parse(
                "password_hash_concurrency",
                env_or(
                    "password_hash_concurrency",
                    file.password_hash_concurrency.map(|n| n.to_string()),
                )?,
                &defaults.max_in_flight.to_string(),
            )?,
            max_waiting: parse(
                "password_hash_queue",
                env_or(
                    "password_hash_queue",
                    file.password_hash_queue.map(|n| n.to_string()),
                )?,
                &defaults.max_waiting.to_string(),
            )?,
        };
        if hash_limits.max_in_flight == 0 {
            bail!("invalid password_hash_concurrency 0: must be at least 1");
        }
        let body_limit: usize = parse(
            "body_limit",
            env_or("body_limit", file.body_limit.map(|n| n.to_string()))?,
            "16384",
        )?;
        if body_limit < 1024 {
            bail!("invalid body_limit {body_limit}: must be at least 1024 bytes");
        }
        let event_retention: HumanDuration = parse(
            "event_retention",
            env_or("event_retention", file.event_retention.clone())?,
            "90d",
        )?;
        let header_read_timeout: HumanDuration = parse(
            "header_read_timeout",
            env_or("header_read_timeout", file.header_read_timeout)?,
            "10s",
        )?;
        if header_read_timeout.as_std().is_zero() {
            bail!("invalid header_read_timeout {header_read_timeout}: must be more than 0s");
        }
        if event_retention.as_time() < time::Duration::hours(1) {
            bail!("invalid event_retention {event_retention}: must be at least 1h");
        }
        let redis = args.redis.clone().or(file.redis);
        if let Some(url) = redis
            .as_ref()
            .filter(|u| !u.starts_with("redis://") && !u.starts_with("rediss://"))
        {
            bail!(
                "invalid redis {:?}: use redis://HOST:PORT/",
                redact_url(url)
            );
        }
        Ok(Self {
            bind: parse("bind", args.bind.clone().or(file.bind), DEFAULT_BIND)?,
            database,
            redis,
            strategy,
            access_ttl: parse(
                "access_ttl",
                args.access_ttl.clone().or(file.access_ttl),
                "5m",
            )?,
            session_ttl: parse(
                "session_ttl",
                args.session_ttl.clone().or(file.session_ttl),
                "30d",
            )?,
            cookie_secure: parse(
                "cookie_secure",
                args.cookie_secure.clone().or(file.cookie_secure),
                "auto",
            )?,
            trusted_proxies,
            request_timeout: parse(
                "request_timeout",
                env_or("request_timeout", file.request_timeout)?,
                "30s",
            )?,
            header_read_timeout,
            body_limit,
            hash_limits,
            log_format: parse(
                "log_format",
                env_or("log_format", file.log_format)?,
                "pretty",
            )?,
            jwt_algorithm: parse(
                "jwt_algorithm",
                env_or("jwt_algorithm", file.jwt_algorithm)?,
                "EdDSA",
            )?,
            jwt_issuer: env_or("jwt_issuer", file.jwt_issuer)?
                .unwrap_or_else(|| "latchkey".to_owned()),
            clock_leeway: parse(
                "clock_leeway",
                env_or("clock_leeway", file.clock_leeway)?,
                "5s",
            )?,
            session_cache_ttl: parse(
                "session_cache_ttl",
                env_or("session_cache_ttl", file.session_cache_ttl)?,
                "30s",
            )?,
            key_poll_interval: parse(
                "key_poll_interval",
                env_or("key_poll_interval", file.key_poll_interval)?,
                "10s",
            )?,
            refresh_grace: parse(
                "refresh_grace",
                env_or("refresh_grace", file.refresh_grace)?,
                "10s",
            )?,
            database_pool_size: parse(
                "database_pool_size",
                env_or(
                    "database_pool_size",
                    file.database_pool_size.map(|n| n.to_string()),
                )?,
                "10",
            )?,
            redis_namespace: env_or("redis_namespace", file.redis_namespace)?
                .unwrap_or_else(|| "latchkey".to_owned()),
            rate_limits: rate_limits([
                (
                    LimitClass::LoginIp,
                    "rate_limit_login_per_ip",
                    file.rate_limit_login_per_ip,
                ),
                (
                    LimitClass::LoginUserIp,
                    "rate_limit_login_per_user_ip",
                    file.rate_limit_login_per_user_ip,
                ),
                (
                    LimitClass::LoginUser,
                    "rate_limit_login_per_user",
                    file.rate_limit_login_per_user,
                ),
                (
                    LimitClass::RegisterIp,
                    "rate_limit_register_per_ip",
                    file.rate_limit_register_per_ip,
                ),
                (
                    LimitClass::RefreshIp,
                    "rate_limit_refresh_per_ip",
                    file.rate_limit_refresh_per_ip,
                ),
            ])?,
            forwarded_header: parse(
                "forwarded_header",
                env_or("forwarded_header", file.forwarded_header)?,
                ForwardedHeader::default().as_str(),
            )?,
            anomaly: AnomalyPolicy {
                on_user_agent_change: parse(
                    "on_user_agent_change",
                    env_or("on_user_agent_change", file.on_user_agent_change)?,
                    AnomalyPolicy::default().on_user_agent_change.as_str(),
                )?,
                on_ip_change: parse(
                    "on_ip_change",
                    env_or("on_ip_change", file.on_ip_change)?,
                    AnomalyPolicy::default().on_ip_change.as_str(),
                )?,
            },
            event_retention,
        })
    }

    /// The settings of admin commands: their `--database`/`--config` (or
    /// `LATCHKEY_DATABASE`/`LATCHKEY_CONFIG`), the file, and the
    /// environment variables of settings without a flag.
    pub(crate) fn for_admin(store: &StoreArgs) -> anyhow::Result<Self> {
        Self::resolve(&ServeArgs {
            store: store.clone(),
            ..ServeArgs::default()
        })
    }

    /// How the strategy issues and checks credentials.
    pub(crate) fn strategy_config(&self) -> StrategyConfig {
        StrategyConfig {
            strategy: self.strategy,
            access_ttl: self.access_ttl.as_time(),
            leeway: self.clock_leeway.as_time(),
            issuer: self.jwt_issuer.clone(),
            algorithm: self.jwt_algorithm,
            cache_ttl: self.session_cache_ttl.as_time(),
            refresh_grace: self.refresh_grace.as_time(),
        }
    }
}

/// The database URL with any password hidden, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Display for Settings {
    /// The effective settings as a TOML file would write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxies = self
            .trusted_proxies
            .iter()
            .map(|p| format!("{:?}", p.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(f, "bind = {:?}", self.bind.to_string())?;
        writeln!(f, "database = {:?}", redact_url(&self.database))?;
        if let Some(redis) = &self.redis {
            writeln!(f, "redis = {:?}", redact_url(redis))?;
        }
        writeln!(f, "strategy = {:?}", self.strategy.as_str())?;
        writeln!(f, "access_ttl = {:?}", self.access_ttl.to_string())?;
        writeln!(f, "session_ttl = {:?}", self.session_ttl.to_string())?;
        writeln!(f, "cookie_secure = {:?}", self.cookie_secure.as_str())?;
        writeln!(f, "trusted_proxies = [{proxies}]")?;
        writeln!(f, "forwarded_header = {:?}", self.forwarded_header.as_str())?;
        writeln!(
            f,
            "on_user_agent_change = {:?}",
            self.anomaly.on_user_agent_change.as_str()
        )?;
        writeln!(f, "on_ip_change = {:?}", self.anomaly.on_ip_change.as_str())?;
        writeln!(
            f,
            "event_retention = {:?}",
            self.event_retention.to_string()
        )?;
        writeln!(
            f,
            "request_timeout = {:?}",
            self.request_timeout.to_string()
        )?;
        writeln!(
            f,
            "header_read_timeout = {:?}",
            self.header_read_timeout.to_string()
        )?;
        writeln!(f, "body_limit = {}", self.body_limit)?;
        writeln!(
            f,
            "password_hash_concurrency = {}",
            self.hash_limits.max_in_flight
        )?;
        writeln!(f, "password_hash_queue = {}", self.hash_limits.max_waiting)?;
        let log = match self.log_format {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        };
        writeln!(f, "log_format = {log:?}")?;
        writeln!(f, "jwt_algorithm = {:?}", self.jwt_algorithm.as_str())?;
        writeln!(f, "jwt_issuer = {:?}", self.jwt_issuer)?;
        writeln!(f, "clock_leeway = {:?}", self.clock_leeway.to_string())?;
        writeln!(
            f,
            "session_cache_ttl = {:?}",
            self.session_cache_ttl.to_string()
        )?;
        writeln!(
            f,
            "key_poll_interval = {:?}",
            self.key_poll_interval.to_string()
        )?;
        writeln!(f, "refresh_grace = {:?}", self.refresh_grace.to_string())?;
        writeln!(f, "database_pool_size = {}", self.database_pool_size)?;
        writeln!(f, "redis_namespace = {:?}", self.redis_namespace)?;
        for (class, key) in RATE_LIMIT_KEYS {
            let quota = self
                .rate_limits
                .quota(class)
                .map_or("off".to_owned(), |q| q.to_string());
            writeln!(f, "{key} = {quota:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/auth"),
            "postgres://app:***@db:5432/auth"
        );
        assert_eq!(
            redact_url("sqlite://latchkey.db?mode=rwc"),
            "sqlite://latchkey.db?mode=rwc"
        );
    }

    #[test]
    fn proxies_accept_cidrs_and_bare_addresses() {
        assert_eq!(parse_proxy("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_proxy(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert!(parse_proxy("10.0.0.0/33").is_err());
    }
}
