//! What the HTTP edge needs to know about how it is deployed.

use std::{str::FromStr, time::Duration};

use ipnet::IpNet;

/// When cookies get the `Secure` attribute (and the `__Host-` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieSecure {
    /// When the request came over TLS (directly, or per a trusted proxy's
    /// `X-Forwarded-Proto: https`).
    #[default]
    Auto,
    /// Always; for deployments that are HTTPS-only end to end.
    Always,
    /// Never; for local development over plain HTTP only.
    Never,
}

impl CookieSecure {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }
}

impl FromStr for CookieSecure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(format!(
                "invalid cookie-secure {other:?} (use auto, always or never)"
            )),
        }
    }
}

/// The edge's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `Secure` cookie policy.
    pub cookie_secure: CookieSecure,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cookie_secure: CookieSecure::Auto,
            trusted_proxies: Vec::new(),
            request_timeout: Duration::from_secs(30),
            body_limit: 16 * 1024,
        }
    }
}
