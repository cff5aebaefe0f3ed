//! What the HTTP edge needs to know about how it is deployed.

use std::{str::FromStr, time::Duration};

use ipnet::IpNet;

use crate::transport::REFRESH_PATH;

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

/// Which forwarding headers a trusted proxy's word is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`: what
    /// nginx, HAProxy and most load balancers set.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…;proto=…;host=…`.
    Forwarded,
}

impl ForwardedHeader {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ForwardedHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!(
                "invalid forwarded_header {other:?} (use x-forwarded-for or forwarded)"
            )),
        }
    }
}

/// The edge's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `Secure` cookie policy.
    pub cookie_secure: CookieSecure,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Which forwarding headers those peers set.
    pub forwarded_header: ForwardedHeader,
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Longest a client may take to send a request's headers (and, on a
    /// kept-alive connection, to start the next request) before the
    /// connection is closed.
    pub header_read_timeout: Duration,
    /// Where latchkey's routes are mounted: `""` (the root, as the contract
    /// has them) or a prefix such as `/id` when an app embeds latchkey next
    /// to its own routes. Cookies and pages follow it.
    pub base_path: String,
    /// The refresh cookie's `Path`, derived from `base_path` by
    /// [`HttpConfig::with_base_path`].
    pub(crate) refresh_path: String,
}

impl HttpConfig {
    /// These settings with latchkey's routes mounted under `base_path`
    /// (`""` or `/segment[/segment…]`, no trailing slash).
    ///
    /// # Errors
    /// A prefix that is not a plain absolute path.
    pub fn with_base_path(mut self, base_path: &str) -> Result<Self, String> {
        validate_base_path(base_path)?;
        self.base_path = base_path.to_owned();
        self.refresh_path = format!("{base_path}{REFRESH_PATH}");
        Ok(self)
    }

    /// Where latchkey's routes are mounted: `""` or a prefix like `/id`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }
}

/// A mount prefix: empty, or `/` followed by path segments of unreserved
/// characters, without a trailing slash, so that it can be joined to the
/// contract's paths and put in a cookie's `Path` as it is.
pub fn validate_base_path(base_path: &str) -> Result<(), String> {
    if base_path.is_empty() {
        return Ok(());
    }
    let plain = base_path.starts_with('/')
        && !base_path.ends_with('/')
        && base_path.len() <= 200
        && base_path.split('/').skip(1).all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    if plain {
        Ok(())
    } else {
        Err(format!(
            "invalid base_path {base_path:?} (use \"\" or a path such as \"/id\", without a trailing slash)"
        ))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cookie_secure: CookieSecure::Auto,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            request_timeout: Duration::from_secs(30),
            body_limit: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            base_path: String::new(),
            refresh_path: REFRESH_PATH.to_owned(),
        }
    }
}
