//! Config, layered as the contract says: flag > environment > file >
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

use crate::{
    Error,
    cli::{ServeArgs, StoreArgs},
};

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
    base_path: Option<String>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (colours on a terminal).
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
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

/// Every setting of a latchkey server, validated. The binary resolves it
/// from flags, the environment and a file; an embedding app loads it with
/// [`Config::load`] or [`Config::from_toml`] and may then adjust fields
/// (it is `#[non_exhaustive]`: new settings are not a breaking change).
///
/// Secrets it may hold (passwords in the database or Redis URL) are never
/// printed: its `Display` (what `latchkey config check` prints) redacts
/// them, and so does its `Debug`.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address `serve` listens on (unused when embedded: the app binds).
    pub bind: SocketAddr,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`; migrated at start.
    pub database: String,
    /// Redis URL carrying revocations and rate-limit counters between nodes.
    pub redis: Option<String>,
    /// How sessions are kept: `session`, `stateful-jwt`, `access-refresh`, `auto-refresh`.
    pub strategy: Strategy,
    /// Access-token lifetime of the JWT strategies.
    pub access_ttl: HumanDuration,
    /// Absolute session lifetime.
    pub session_ttl: HumanDuration,
    /// When cookies are `Secure` (and `__Host-`).
    pub cookie_secure: CookieSecure,
    /// Peers whose forwarded headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Longest a request may take (then `503`).
    pub request_timeout: HumanDuration,
    /// Longest a client may take to send its headers.
    pub header_read_timeout: HumanDuration,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Argon2 hashes computed at once, and waiting.
    pub hash_limits: HashLimits,
    /// How `serve` writes its log (an embedding app sets up its own).
    pub log_format: LogFormat,
    /// Algorithm of new signing keys.
    pub jwt_algorithm: KeyAlgorithm,
    /// `iss` and `aud` of tokens.
    pub jwt_issuer: String,
    /// Clock skew tolerated on token times.
    pub clock_leeway: HumanDuration,
    /// How long `session` and `stateful-jwt` reuse a session record.
    pub session_cache_ttl: HumanDuration,
    /// How often signing keys are re-read (to pick up `keys rotate`).
    pub key_poll_interval: HumanDuration,
    /// How long a spent refresh token still gets the same successor.
    pub refresh_grace: HumanDuration,
    /// PostgreSQL connections per process.
    pub database_pool_size: u32,
    /// Prefix of every Redis key and channel.
    pub redis_namespace: String,
    /// Quotas per limited class (`None`: off).
    pub rate_limits: RateLimits,
    /// Which forwarding headers trusted proxies set.
    pub forwarded_header: ForwardedHeader,
    /// What a changed user agent or IP does to a session.
    pub anomaly: AnomalyPolicy,
    /// How long security events are kept.
    pub event_retention: HumanDuration,
    /// Where latchkey's routes are mounted: `""` (the root) or a prefix
    /// such as `/id` for an app that serves its own routes beside them.
    pub base_path: String,
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse_file(&text, &format!("config file {}", path.display()))
}

fn parse_file(text: &str, what: &str) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| {
        let why = e.message().to_owned();
        anyhow::anyhow!("invalid {what}: {why}")
    })
}

/// A setting that has no flag: `LATCHKEY_<KEY>` beats the file (when the
/// environment is read at all).
fn env_or(read_env: bool, key: &str, file: Option<String>) -> anyhow::Result<Option<String>> {
    if !read_env {
        return Ok(file);
    }
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
    read_env: bool,
    classes: [(LimitClass, &str, Option<String>); N],
) -> anyhow::Result<RateLimits> {
    let mut limits = RateLimits::default();
    for (class, key, file) in classes {
        if let Some(text) = env_or(read_env, key, file)? {
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

impl Config {
    /// Resolves and validates every setting of `serve`: flags (and their
    /// environment variables, which clap reads), the environment, the file.
    pub(crate) fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.store.config.as_deref())?;
        Self::assemble(args, file, true)
    }

    /// The settings in the TOML file at `path` (if any), overridden by the
    /// `LATCHKEY_*` environment variables: what `latchkey serve` would use
    /// without flags.
    ///
    /// # Errors
    /// [`Error::Config`] for an unreadable file, an unknown key or an
    /// invalid value, naming the setting.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let args = ServeArgs::from_env().map_err(Error::config)?;
        let file = read_file(path).map_err(Error::config)?;
        Self::assemble(&args, file, true).map_err(Error::config)
    }

    /// The settings in `toml` (the config file's format; `""` gives every
    /// default), without looking at the environment: for tests and for apps
    /// that keep their configuration elsewhere.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid TOML, an unknown key or an invalid
    /// value, naming the setting.
    ///
    /// # Example
    /// ```
    /// let config = latchkey::Config::from_toml(r#"
    ///     strategy = "access-refresh"
    ///     access_ttl = "2m"
    /// "#)?;
    /// assert_eq!(config.strategy.as_str(), "access-refresh");
    /// assert_eq!(config.session_ttl.to_string(), "30d");
    /// # Ok::<(), latchkey::Error>(())
    /// ```
    pub fn from_toml(toml: &str) -> Result<Self, Error> {
        let file = parse_file(toml, "TOML").map_err(Error::config)?;
        Self::assemble(&ServeArgs::default(), file, false).map_err(Error::config)
    }

    fn assemble(args: &ServeArgs, file: FileConfig, read_env: bool) -> anyhow::Result<Self> {
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
                    read_env,
                    "password_hash_concurrency",
                    file.password_hash_concurrency.map(|n| n.to_string()),
                )?,
                &defaults.max_in_flight.to_string(),
            )?,
            max_waiting: parse(
                "password_hash_queue",
                env_or(
                    read_env,
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
            env_or(
                read_env,
                "body_limit",
                file.body_limit.map(|n| n.to_string()),
            )?,
            "16384",
        )?;
        if body_limit < 1024 {
            bail!("invalid body_limit {body_limit}: must be at least 1024 bytes");
        }
        let event_retention: HumanDuration = parse(
            "event_retention",
            env_or(read_env, "event_retention", file.event_retention.clone())?,
            "90d",
        )?;
        let header_read_timeout: HumanDuration = parse(
            "header_read_timeout",
            env_or(read_env, "header_read_timeout", file.header_read_timeout)?,
            "10s",
        )?;
        if header_read_timeout.as_std().is_zero() {
            bail!("invalid header_read_timeout {header_read_timeout}: must be more than 0s");
        }
        if event_retention.as_time() < time::Duration::hours(1) {
            bail!("invalid event_retention {event_retention}: must be at least 1h");
        }
        let base_path = env_or(read_env, "base_path", file.base_path)?.unwrap_or_default();
        latchkey_http::config::validate_base_path(&base_path).map_err(anyhow::Error::msg)?;
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
                env_or(read_env, "request_timeout", file.request_timeout)?,
                "30s",
            )?,
            header_read_timeout,
            body_limit,
            hash_limits,
            log_format: parse(
                "log_format",
                args.log_format.clone().or(file.log_format),
                "pretty",
            )?,
            jwt_algorithm: parse(
                "jwt_algorithm",
                env_or(read_env, "jwt_algorithm", file.jwt_algorithm)?,
                "EdDSA",
            )?,
            jwt_issuer: env_or(read_env, "jwt_issuer", file.jwt_issuer)?
                .unwrap_or_else(|| "latchkey".to_owned()),
            clock_leeway: parse(
                "clock_leeway",
                env_or(read_env, "clock_leeway", file.clock_leeway)?,
                "5s",
            )?,
            session_cache_ttl: parse(
                "session_cache_ttl",
                env_or(read_env, "session_cache_ttl", file.session_cache_ttl)?,
                "30s",
            )?,
            key_poll_interval: parse(
                "key_poll_interval",
                env_or(read_env, "key_poll_interval", file.key_poll_interval)?,
                "10s",
            )?,
            refresh_grace: parse(
                "refresh_grace",
                env_or(read_env, "refresh_grace", file.refresh_grace)?,
                "10s",
            )?,
            database_pool_size: parse(
                "database_pool_size",
                env_or(
                    read_env,
                    "database_pool_size",
                    file.database_pool_size.map(|n| n.to_string()),
                )?,
                "10",
            )?,
            redis_namespace: env_or(read_env, "redis_namespace", file.redis_namespace)?
                .unwrap_or_else(|| "latchkey".to_owned()),
            rate_limits: rate_limits(
                read_env,
                [
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
                ],
            )?,
            forwarded_header: parse(
                "forwarded_header",
                env_or(read_env, "forwarded_header", file.forwarded_header)?,
                ForwardedHeader::default().as_str(),
            )?,
            anomaly: AnomalyPolicy {
                on_user_agent_change: parse(
                    "on_user_agent_change",
                    env_or(read_env, "on_user_agent_change", file.on_user_agent_change)?,
                    AnomalyPolicy::default().on_user_agent_change.as_str(),
                )?,
                on_ip_change: parse(
                    "on_ip_change",
                    env_or(read_env, "on_ip_change", file.on_ip_change)?,
                    AnomalyPolicy::default().on_ip_change.as_str(),
                )?,
            },
            event_retention,
            base_path,
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

/// A database or Redis URL with its secrets hidden, for messages and
/// `config check`: the password of the user part, and query parameters
/// that carry one (PostgreSQL accepts `?password=`).
pub(crate) fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut shown = match (head.find("://"), head.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &head[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &head[..scheme_end + 3], &head[at..]),
                None => head.to_owned(),
            }
        }
        _ => head.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_parameter(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

fn is_secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
}

impl fmt::Debug for Config {
    /// The `Display` form on one line: a `{:?}` in an app's log must not
    /// print a database password either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.to_string();
        write!(f, "Config {{ {} }}", shown.trim_end().replace('\n', ", "))
    }
}

impl fmt::Display for Config {
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
        writeln!(f, "log_format = {:?}", self.log_format.as_str())?;
        writeln!(f, "base_path = {:?}", self.base_path)?;
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
        assert_eq!(
            redact_url("postgres://db/auth?user=app&password=s3cret&sslmode=require"),
            "postgres://db/auth?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/"),
            "redis://:***@cache:6379/"
        );
        assert_eq!(
            redact_url("postgres://u:p@h/d?sslpassword=x&a=b@c"),
            "postgres://u:***@h/d?sslpassword=***&a=b@c"
        );
    }

    #[test]
    fn toml_text_gives_a_config_without_the_environment() {
        let config = Config::from_toml("strategy = \"auto-refresh\"\nbase_path = \"/id\"").unwrap();
        assert_eq!(config.strategy.as_str(), "auto-refresh");
        assert_eq!(config.base_path, "/id");
        assert_eq!(config.session_ttl.to_string(), "30d");
        let mut config = config;
        config.database = "postgres://app:s3cret@db/auth".to_owned();
        let debug = format!("{config:?}");
        assert!(
            debug.contains("app:***@db") && !debug.contains("s3cret"),
            "{debug}"
        );
        for bad in [
            "base_path = \"id\"",
            "base_path = \"/id/\"",
            "base_path = \"/a/../b\"",
            "nope = 1",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
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
