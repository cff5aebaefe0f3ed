//! Forward authentication for reverse proxies (nginx `auth_request`,
//! Traefik `ForwardAuth`, Caddy `forward_auth`).

use axum::{
    extract::{Request, State},
    http::{HeaderName, Method, request::Parts},
    response::Response,
};

use utoipa::{
    ToResponse, ToSchema,
    openapi::{self, ContentBuilder, RefOr, ResponseBuilder, schema::Ref},
};

use super::{
    me::Me,
    openapi::{CsrfFailed, Unauthenticated, required_header},
};
use crate::{csrf::is_safe, error::ApiError, extract::authenticate, state::AppState};

// Made at compile time: a name made from text at run time is parsed and
// validated on every request.
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_AUTH_USER_ID: HeaderName = HeaderName::from_static("x-auth-user-id");
const X_AUTH_USERNAME: HeaderName = HeaderName::from_static("x-auth-username");
const X_AUTH_SESSION_ID: HeaderName = HeaderName::from_static("x-auth-session-id");

/// The method of the request being guarded, as proxies report it
/// (`X-Original-Method` from nginx, `X-Forwarded-Method` from Traefik and
/// Caddy). The most restrictive reading wins: if any of them names an
/// unsafe method, or cannot be read, the request is treated as unsafe, so a
/// client cannot lower what its proxy reported. With neither header the
/// check treats the request as a GET: configure the proxy to send one.
fn guarded_method(parts: &Parts) -> Method {
    for value in [X_ORIGINAL_METHOD, X_FORWARDED_METHOD]
        .iter()
        .flat_map(|h| parts.headers.get_all(h))
    {
        match Method::from_bytes(value.as_bytes()) {
            Ok(m) if is_safe(&m) => {}
            Ok(m) => return m,
            Err(_) => return Method::POST,
        }
    }
    Method::GET
}

/// The answer to a request that passes: the caller, in the body and in the
/// headers a proxy forwards.
pub(crate) enum Verified {}

impl<'r> ToResponse<'r> for Verified {
    fn response() -> (&'r str, RefOr<openapi::Response>) {
        let response = ResponseBuilder::new()
            .description("The credential is live: forward the request with these headers.")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Me::name())))
                    .build(),
            )
            .header("X-Auth-User-Id", required_header("The user's id."))
            .header("X-Auth-Username", required_header("The username."))
            .header("X-Auth-Session-Id", required_header("The session's id."));
        ("Verified", response.build().into())
    }
}

/// Forward authentication.
///
/// For reverse proxies (nginx `auth_request`, Traefik `ForwardAuth`, Caddy
/// `forward_auth`): `200` with the caller in `X-Auth-*` headers, or the
/// contract's `401`. Cookie requests guarding an unsafe method need the
/// CSRF token too; the guarded method comes from `X-Original-Method` or
/// `X-Forwarded-Method` (an unsafe or unreadable one counts as unsafe;
/// neither counts as GET). In `auto-refresh` a renewal rides on the
/// answer (`X-Refreshed-Token` or `Set-Cookie`) for the proxy to pass on.
#[utoipa::path(
    get,
    path = "/auth/verify",
    operation_id = "verify",
    tag = "forward-auth",
    params(
        ("X-Original-Method" = Option<String>, Header,
            description = "The guarded request's method (nginx)."),
        ("X-Forwarded-Method" = Option<String>, Header,
            description = "The guarded request's method (Traefik, Caddy)."),
    ),
    responses(
        (status = 200, response = inline(Verified)),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("session_cookie" = [], "csrf_token" = [])),
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let auth = authenticate(&mut parts, &state, guarded_method).await?;
    let answer = state.answers.of(&auth.caller);
    let mut response = answer.response();
    let headers = response.headers_mut();
    for (name, value) in [
        (X_AUTH_USER_ID, &answer.user_id),
        (X_AUTH_USERNAME, &answer.username),
        (X_AUTH_SESSION_ID, &answer.session_id),
    ] {
        if let Some(value) = value {
            headers.insert(name, value.clone());
        }
    }
    Ok(response)
}
