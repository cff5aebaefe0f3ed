//! `auto-refresh` renews an expired token while authenticating a request;
//! the new token must reach the client on that request's response, whatever
//! the handler answers (even an error: the old token is now stale). The
//! extractor leaves the renewal in a slot this middleware put on the
//! request, and the middleware writes it onto the response: a new cookie
//! for cookie clients, `X-Refreshed-Token` for bearer clients.

use std::sync::{Arc, Mutex, PoisonError};

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use latchkey_core::service::Credentials;
use time::OffsetDateTime;

use crate::transport::{CookiePolicy, Transport};

/// The header that carries a renewed bearer token.
pub(crate) const REFRESHED_TOKEN: HeaderName = HeaderName::from_static("x-refreshed-token");

/// A renewal waiting for the response.
#[derive(Debug, Clone)]
pub(crate) struct Renewal {
    pub(crate) credentials: Credentials,
    pub(crate) transport: Transport,
    pub(crate) cookies: CookiePolicy,
    pub(crate) now: OffsetDateTime,
}

/// Where the extractor leaves a renewal.
#[derive(Debug, Clone, Default)]
pub(crate) struct RenewalSlot(Arc<Mutex<Option<Renewal>>>);

impl RenewalSlot {
    pub(crate) fn put(&self, renewal: Renewal) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(renewal);
    }

    fn take(&self) -> Option<Renewal> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

pub(crate) async fn deliver(mut req: Request, next: Next) -> Response {
    let slot = RenewalSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    hand_over(&slot, &mut res);
    res
}

/// Writes the renewal left in `slot`, if any, onto `res`.
pub(crate) fn hand_over(slot: &RenewalSlot, res: &mut Response) {
    let Some(renewal) = slot.take() else {
        return;
    };
    let headers = res.headers_mut();
    match renewal.transport {
        Transport::Bearer => {
            if let Ok(v) = HeaderValue::from_str(&renewal.credentials.access) {
                headers.insert(REFRESHED_TOKEN, v);
            }
        }
        Transport::Cookie => {
            // A handler that set the session cookie itself (logout clears
            // it) has the last word.
            let name = renewal.cookies.name();
            let already = headers.get_all(header::SET_COOKIE).iter().any(|v| {
                v.as_bytes().starts_with(name.as_bytes())
                    && v.as_bytes().get(name.len()) == Some(&b'=')
            });
            if already {
                return;
            }
            let c = &renewal.credentials;
            let cookie = renewal
                .cookies
                .session_cookie(c.access.clone(), c.cookie_expires_at - renewal.now);
            if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }
}
