//! "The caller": the extractor every authenticated route takes.

use axum::{
    extract::FromRequestParts,
    http::{Method, request::Parts},
};
use latchkey_core::service::Caller;

use crate::{
    client::ClientInfo,
    csrf,
    error::ApiError,
    renewal::{Renewal, RenewalSlot},
    state::AppState,
    transport::{self, CookiePolicy, Transport},
};

/// An authenticated request: its caller, and how the credential came, so
/// responses can use the same transport (clear the cookie, say).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The caller and their session.
    pub caller: Caller,
    pub(crate) transport: Transport,
    pub(crate) cookies: CookiePolicy,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    // No span of its own: the service's full path has one, and the
    // common path costs less than a span.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, own_method).await
    }
}

/// The method a request's CSRF check guards, read from the request only
/// when the credential came in a cookie (bearer requests need no CSRF
/// check): the request's own ([`own_method`]), or for forward-auth the one
/// its proxy reports.
pub(crate) type GuardedMethod = fn(&Parts) -> Method;

/// The request's own method.
pub(crate) fn own_method(parts: &Parts) -> Method {
    parts.method.clone()
}

/// Authenticates `parts`, guarding the method `method` reads from it.
pub(crate) async fn authenticate(
    parts: &mut Parts,
    state: &AppState,
    method: GuardedMethod,
) -> Result<Authenticated, ApiError> {
    let client = ClientInfo::of(parts, state);
    let cookies = CookiePolicy::for_request(state.http.cookie_secure, client.tls);
    let presented =
        transport::presented(&parts.headers, cookies).ok_or_else(ApiError::unauthenticated)?;
    let bearer = presented.transport == Transport::Bearer;
    // A browser attaches cookies to cross-site requests on its own; a
    // bearer header only ever comes from the client's own code.
    let needs_csrf = !bearer && !csrf::is_safe(&method(parts));
    if needs_csrf {
        csrf::check_origin(&parts.headers, client.host(&parts.headers))?;
    }
    // The CSRF token is checked by the service, before an `auto-refresh`
    // renewal can happen on a forged request's behalf.
    let csrf_presented = needs_csrf.then(|| {
        parts
            .headers
            .get(csrf::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    });
    let context = client.into_context();
    let caller = state
        .auth
        .authenticate_with_csrf(presented.value, csrf_presented, Some(context))
        .await
        .map_err(|e| ApiError::from(e).for_bearer(bearer))?;
    if let Some(credentials) = &caller.renewed
        && let Some(slot) = parts.extensions.get::<RenewalSlot>()
    {
        slot.put(Renewal {
            credentials: credentials.clone(),
            transport: presented.transport,
            cookies,
            now: state.auth.now(),
        });
    }
    Ok(Authenticated {
        caller,
        transport: presented.transport,
        cookies,
    })
}

impl Authenticated {
    /// Whether the credential came in the session cookie.
    pub fn by_cookie(&self) -> bool {
        self.transport == Transport::Cookie
    }
}
