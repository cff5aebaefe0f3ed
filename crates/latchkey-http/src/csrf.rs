//! Cross-site request forgery defences for cookie-authenticated requests.
//!
//! Two independent checks, both required for unsafe methods: the browser's
//! own word on where the request comes from (`Sec-Fetch-Site`, `Origin`),
//! and the synchroniser token in `X-CSRF-Token`, which a page on another
//! site can never read.

use axum::http::{HeaderMap, Method, header};
use latchkey_core::csrf::CsrfToken;

use crate::error::ApiError;

/// The header that carries the session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Methods that must not change state, and so need no CSRF token.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses requests a browser marks as cross-site, and requests whose
/// `Origin` is not the host they were sent to. Requests without either
/// header (apps, curl, old browsers) pass: the token check still applies.
pub(crate) fn check_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), ApiError> {
    let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if site.is_some_and(|s| s.eq_ignore_ascii_case(b"cross-site")) {
        return Err(ApiError::csrf("cross-site request refused"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let same = match (origin.to_str().ok().and_then(origin_authority), host) {
        (Some(from), Some(to)) => from.eq_ignore_ascii_case(&normalise(to, None)),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(ApiError::csrf("request origin does not match this site"))
    }
}

/// `host[:port]` of a serialised origin, without the scheme's default port.
/// `null` and anything that is not `scheme://authority` yield `None`.
fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some(normalise(rest, Some(scheme)))
}

fn normalise(authority: &str, scheme: Option<&str>) -> String {
    let default_port = match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => Some(":443"),
        Some(s) if s.eq_ignore_ascii_case("http") => Some(":80"),
        _ => None,
    };
    match default_port {
        Some(port) => authority.strip_suffix(port).unwrap_or(authority).to_owned(),
        // The Host header has no scheme; browsers omit default ports in both.
        None => authority.to_owned(),
    }
}

/// Requires `X-CSRF-Token` to equal the session's token.
pub(crate) fn check_token(headers: &HeaderMap, expected: &CsrfToken) -> Result<(), ApiError> {
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::csrf("missing X-CSRF-Token header"))?;
    if expected.matches(presented) {
        Ok(())
    } else {
        Err(ApiError::csrf("invalid X-CSRF-Token header"))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn origin_must_match_host() {
        let host = Some("127.0.0.1:8080");
        assert!(check_origin(&h(&[]), host).is_ok());
        assert!(check_origin(&h(&[("origin", "http://127.0.0.1:8080")]), host).is_ok());
        assert!(
            check_origin(
                &h(&[("origin", "https://auth.example")]),
                Some("auth.example")
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &h(&[("origin", "https://auth.example:443")]),
                Some("auth.example")
            )
            .is_ok()
        );
        for bad in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:8081",
            "garbage",
            "http://127.0.0.1:8080/x",
        ] {
            assert!(check_origin(&h(&[("origin", bad)]), host).is_err(), "{bad}");
        }
        assert!(check_origin(&h(&[("origin", "http://127.0.0.1:8080")]), None).is_err());
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        assert!(check_origin(&h(&[("sec-fetch-site", "cross-site")]), Some("a")).is_err());
        assert!(check_origin(&h(&[("sec-fetch-site", "same-origin")]), Some("a")).is_ok());
        assert!(check_origin(&h(&[("sec-fetch-site", "none")]), Some("a")).is_ok());
    }

    #[test]
    fn token_must_match() {
        let t = CsrfToken::generate().unwrap();
        assert!(check_token(&h(&[]), &t).is_err());
        assert!(check_token(&h(&[("x-csrf-token", "nope")]), &t).is_err());
        let mut ok = HeaderMap::new();
        ok.insert(CSRF_HEADER, t.expose().parse().unwrap());
        assert!(check_token(&ok, &t).is_ok());
    }
}
