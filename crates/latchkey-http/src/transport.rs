//! How a credential travels: an `HttpOnly` cookie for browsers, an
//! `Authorization: Bearer` header for apps.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use time::Duration;

use crate::config::CookieSecure;

/// Cookie name over plain HTTP.
pub(crate) const SESSION_COOKIE: &str = "latchkey_session";
/// Cookie name when `Secure`: `__Host-` makes browsers refuse it unless it
/// is `Secure`, `Path=/` and has no `Domain`, so a sibling subdomain or a
/// plain-HTTP attacker cannot plant one.
pub(crate) const SECURE_SESSION_COOKIE: &str = "__Host-latchkey_session";
/// Refresh cookie over plain HTTP.
pub(crate) const REFRESH_COOKIE: &str = "latchkey_refresh";
/// Refresh cookie when `Secure`. It is scoped to `Path=/auth/refresh`, so
/// it cannot carry `__Host-` (which requires `Path=/`).
pub(crate) const SECURE_REFRESH_COOKIE: &str = "__Secure-latchkey_refresh";
/// Where the refresh cookie is sent, and nowhere else (below the mount
/// prefix, if latchkey's routes are mounted under one).
pub(crate) const REFRESH_PATH: &str = "/auth/refresh";
/// Longest credential we look at; anything longer is not ours.
pub(crate) const MAX_CREDENTIAL_LEN: usize = 4096;

/// Where the request's credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie.
    Cookie,
}

/// A credential found on a request, borrowed from its headers.
#[derive(Debug)]
pub(crate) struct Presented<'h> {
    pub(crate) transport: Transport,
    pub(crate) value: &'h str,
}

/// The cookie policy for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookiePolicy {
    pub(crate) secure: bool,
}

impl CookiePolicy {
    pub(crate) fn for_request(setting: CookieSecure, tls: bool) -> Self {
        let secure = match setting {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => tls,
        };
        Self { secure }
    }

    /// The one cookie name this request may use: a secure request does not
    /// accept the plain name, which anyone on the network path could set.
    pub(crate) fn name(self) -> &'static str {
        if self.secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The session cookie carrying `value`, living `max_age`.
    pub(crate) fn session_cookie(self, value: String, max_age: Duration) -> Cookie<'static> {
        let max_age = whole_seconds_up(max_age);
        Cookie::build((self.name(), value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .build()
    }

    /// A cookie that makes the browser forget the session cookie: same name,
    /// path and attributes, empty, already expired.
    pub(crate) fn cleared_cookie(self) -> Cookie<'static> {
        let mut cookie = self.session_cookie(String::new(), Duration::ZERO);
        cookie.make_removal();
        cookie
    }

    /// The refresh cookie's name for this request.
    pub(crate) fn refresh_name(self) -> &'static str {
        if self.secure {
            SECURE_REFRESH_COOKIE
        } else {
            REFRESH_COOKIE
        }
    }

    /// The `access-refresh` refresh cookie, sent only to `path` (the mount
    /// prefix and [`REFRESH_PATH`]).
    pub(crate) fn refresh_cookie(
        self,
        value: String,
        max_age: Duration,
        path: &str,
    ) -> Cookie<'static> {
        let max_age = whole_seconds_up(max_age);
        Cookie::build((self.refresh_name(), value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .path(path.to_owned())
            .max_age(max_age)
            .build()
    }

    /// Forgets the refresh cookie.
    pub(crate) fn cleared_refresh_cookie(self, path: &str) -> Cookie<'static> {
        let mut cookie = self.refresh_cookie(String::new(), Duration::ZERO, path);
        cookie.make_removal();
        cookie
    }

    /// The refresh token in this request's refresh cookie.
    pub(crate) fn refresh_from(self, headers: &HeaderMap) -> Option<String> {
        let value = cookie_value(headers, self.refresh_name())?;
        (!value.is_empty() && value.len() <= MAX_CREDENTIAL_LEN).then(|| value.to_owned())
    }
}

/// `Max-Age` is whole seconds and the cookie crate truncates: 0.9 s would
/// become "delete now". Round up instead.
fn whole_seconds_up(d: Duration) -> Duration {
    Duration::seconds(d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0))
}

/// Finds the request's credential. A bearer header wins over a cookie; a
/// non-bearer `Authorization` (say, `Basic` for an upstream) is not ours and
/// is ignored. Oversized or non-text values count as absent.
pub(crate) fn presented(headers: &HeaderMap, cookies: CookiePolicy) -> Option<Presented<'_>> {
    if let Some(token) = bearer_token(headers) {
        return Some(Presented {
            transport: Transport::Bearer,
            value: token,
        });
    }
    let value = cookie_value(headers, cookies.name())?;
    (!value.is_empty() && value.len() <= MAX_CREDENTIAL_LEN).then_some(Presented {
        transport: Transport::Cookie,
        value,
    })
}

/// Whether the request carries anything that looks like a latchkey
/// credential (a bearer header, either session cookie name): an optional
/// caller is absent without one, refused with a bad one.
pub(crate) fn presents_credential(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || cookie_value(headers, SESSION_COOKIE).is_some()
        || cookie_value(headers, SECURE_SESSION_COOKIE).is_some()
}

/// The value of the first cookie called `name` (RFC 6265 sends the most
/// specific first), found by scanning the `Cookie` headers' bytes in place:
/// every authenticated browser request does this, and building a whole jar
/// of parsed cookies for one value cost more than the rest of the check. A
/// header that is not text is skipped whole, as `to_str` would.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let name = name.as_bytes();
    headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        // A header value holds no control bytes but tab, so ASCII is
        // exactly what `to_str` accepts; this test is the faster one.
        .filter(|bytes| bytes.is_ascii())
        .find_map(|bytes| {
            let ends = memchr::memchr_iter(b';', bytes).chain(std::iter::once(bytes.len()));
            let mut start = 0;
            ends.into_iter().find_map(|end| {
                let pair = &bytes[start..end];
                start = end + 1;
                let eq = memchr::memchr(b'=', pair)?;
                (pair[..eq].trim_ascii() == name).then(|| pair[eq + 1..].trim_ascii())
            })
        })
        .and_then(|value| std::str::from_utf8(value).ok())
}

/// The token of an `Authorization: Bearer` header. An empty, oversized or
/// non-text token comes back as `""`, which never authenticates: the request
/// is refused as a bearer request rather than quietly judged by its cookie.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let raw = headers.get(header::AUTHORIZATION)?;
    let bytes = raw.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = std::str::from_utf8(rest).ok().map(str::trim).unwrap_or("");
    if token.len() > MAX_CREDENTIAL_LEN {
        return Some("");
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: header::HeaderName, value: &'static [u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn bearer_is_found_case_insensitively() {
        let h = with(header::AUTHORIZATION, b"bEaReR abc");
        let p = presented(&h, CookiePolicy { secure: false }).unwrap();
        assert_eq!((p.transport, p.value), (Transport::Bearer, "abc"));
    }

    #[test]
    fn garbled_bearer_never_falls_back_to_the_cookie() {
        for bad in [&b"Bearer "[..], b"Bearer", b"Bearer \xff\xfe"] {
            let mut h = with(header::AUTHORIZATION, bad);
            h.insert(
                header::COOKIE,
                HeaderValue::from_static("latchkey_session=abc"),
            );
            let p = presented(&h, CookiePolicy { secure: false }).unwrap();
            assert_eq!(p.transport, Transport::Bearer);
            assert_eq!(p.value, "");
        }
    }

    /// Our cookie is found among others by its exact name; a `Cookie`
    /// header that is not text is skipped, and the next one read.
    #[test]
    fn the_session_cookie_is_found_by_its_exact_name() {
        let policy = CookiePolicy { secure: false };
        let h = with(
            header::COOKIE,
            b"theme=dark; latchkey_session= abc.def ;x=1",
        );
        assert_eq!(presented(&h, policy).unwrap().value, "abc.def");
        let h = with(
            header::COOKIE,
            b"latchkey_sessionx=no; xlatchkey_session=no",
        );
        assert!(presented(&h, policy).is_none());
        let h = with(header::COOKIE, b"a=latchkey_session=no");
        assert!(presented(&h, policy).is_none());
        let h = with(header::COOKIE, b"latchkey_session=");
        assert!(presented(&h, policy).is_none());
        let mut h = with(header::COOKIE, b"latchkey_session=ab\xffc");
        h.append(
            header::COOKIE,
            HeaderValue::from_static("latchkey_session=next"),
        );
        assert_eq!(presented(&h, policy).unwrap().value, "next");
    }

    #[test]
    fn secure_requests_only_read_the_host_prefixed_cookie() {
        let h = with(header::COOKIE, b"latchkey_session=plain");
        assert!(presented(&h, CookiePolicy { secure: true }).is_none());
        let p = presented(&h, CookiePolicy { secure: false }).unwrap();
        assert_eq!(p.value, "plain");
        let h = with(header::COOKIE, b"__Host-latchkey_session=hosted");
        assert_eq!(
            presented(&h, CookiePolicy { secure: true }).unwrap().value,
            "hosted"
        );
    }

    #[test]
    fn max_age_rounds_up_never_to_zero() {
        let c =
            CookiePolicy { secure: false }.session_cookie("v".into(), Duration::milliseconds(900));
        assert!(c.to_string().contains("Max-Age=1"), "{c}");
        let r = CookiePolicy { secure: true }.refresh_cookie(
            "v".into(),
            Duration::seconds(60),
            REFRESH_PATH,
        );
        let text = r.to_string();
        assert!(text.starts_with("__Secure-latchkey_refresh=v"), "{text}");
        for part in [
            "Path=/auth/refresh",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=60",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
    }

    #[test]
    fn cookie_attributes() {
        let c = CookiePolicy { secure: true }.session_cookie("v".into(), Duration::days(1));
        let text = c.to_string();
        for part in [
            "__Host-latchkey_session=v",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=86400",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Domain"));
        let cleared = CookiePolicy { secure: false }.cleared_cookie().to_string();
        assert!(
            cleared.contains("Max-Age=0") && !cleared.contains("Secure"),
            "{cleared}"
        );
    }

    #[test]
    fn the_named_cookie_is_found_among_others() {
        let h = with(
            header::COOKIE,
            b"theme=dark; latchkey_session=abc.def-ghi_; other=x=y",
        );
        assert_eq!(cookie_value(&h, "latchkey_session"), Some("abc.def-ghi_"));
        assert_eq!(cookie_value(&h, "other"), Some("x=y"));
        assert_eq!(cookie_value(&h, "latchkey"), None);
        let mut two = with(header::COOKIE, b"latchkey_session=first");
        two.append(
            header::COOKIE,
            axum::http::HeaderValue::from_static("latchkey_session=second"),
        );
        assert_eq!(cookie_value(&two, "latchkey_session"), Some("first"));
        let garbage = with(header::COOKIE, b";;=;latchkey_session;  ; =x");
        assert_eq!(cookie_value(&garbage, "latchkey_session"), None);
    }
}
