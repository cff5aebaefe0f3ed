//! `POST /auth/refresh` (`access-refresh` only): spend a refresh token for
//! a new access token and a new refresh token.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::Response,
};
use axum_extra::extract::CookieJar;
use latchkey_core::{AuthError, ratelimit::LimitClass, session::ClientKind, strategy::Strategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{
    CsrfFailed, InvalidRequest, NotFound, RateLimited, Unauthenticated, Unavailable,
};
use crate::{
    client::ClientInfo,
    csrf,
    error::ApiError,
    issue::{self, LoginResponse},
    state::AppState,
    transport::CookiePolicy,
};

/// An app's refresh.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RefreshBody {
    /// The `refresh_token` of the login or of the last refresh.
    refresh_token: String,
}

/// Spend a refresh token (`access-refresh` only).
///
/// Apps send `{refresh_token}` and get a new access token and refresh
/// token, like a mobile login; browsers send an empty body with their
/// refresh cookie (scoped to this path) and `X-CSRF-Token`, and get new
/// cookies, like a web login. A refresh token spent before is refused;
/// presenting it after the grace period revokes the whole session
/// (`401 session_revoked`). `404` in the other strategies. Rate limited
/// per address.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    operation_id = "refresh",
    tag = "auth",
    // A `ref`, not `Option<RefreshBody>`: the body is optional, but when
    // there is one it is the object, never `null`.
    request_body(content = ref("#/components/schemas/RefreshBody"),
        description = "Apps: `{refresh_token}`. Browsers: no body."),
    responses(
        (status = 200, description = "A new pair, shaped like the client's login answer.",
            body = LoginResponse,
            headers(("Set-Cookie" = String, description = "Browsers: the new session and \
                refresh cookies."))),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ),
    security((), ("refresh_cookie" = [], "csrf_token" = [])),
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, ApiError> {
    if state.auth.strategy() != Strategy::AccessRefresh {
        return Err(ApiError::not_found());
    }
    let ip = client.rate_key();
    state
        .auth
        .check_rates(&[(LimitClass::RefreshIp, &ip)])
        .await?;
    let cookies = CookiePolicy::for_request(state.http.cookie_secure, client.tls);
    let (token, kind) = if body.is_empty() {
        let token = cookies
            .refresh_from(&headers)
            .ok_or_else(ApiError::unauthenticated)?;
        (token, ClientKind::Web)
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !is_json {
            return Err(ApiError::invalid(
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let parsed: RefreshBody = serde_json::from_slice(&body)
            .map_err(|_| ApiError::invalid("expected {\"refresh_token\": \"…\"}"))?;
        (parsed.refresh_token, ClientKind::Mobile)
    };
    if kind == ClientKind::Web {
        csrf::check_origin(&headers, client.host(&headers))?;
        let session = state.auth.refresh_session(&token).await?;
        csrf::check_token(&headers, &session.csrf_token)?;
    }
    let result = state.auth.refresh(&token, &client.context()).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AuthError::SessionRevoked) => "revoked",
        Err(AuthError::Unauthenticated) => "refused",
        Err(_) => "error",
    };
    metrics::counter!("latchkey_refreshes_total", "result" => outcome).increment(1);
    let login = result.map_err(|e| ApiError::from(e).for_bearer(kind == ClientKind::Mobile))?;
    Ok(issue::respond(
        &login,
        kind,
        cookies,
        jar,
        state.auth.now(),
        &state.http.refresh_path,
    ))
}

/// The CSRF token for a browser's refresh.
#[derive(Serialize, ToSchema)]
pub(crate) struct RefreshCsrf {
    /// Send as `X-CSRF-Token` with `POST /auth/refresh`.
    csrf_token: String,
}

/// Get the CSRF token for a refresh (`access-refresh`, browsers).
///
/// The CSRF token of the session the refresh cookie belongs to, without
/// spending anything. A latchkey extension of the contract.
///
/// A page reloaded after its access cookie expired has lost the token from
/// memory and cannot read it from `/auth/session` (which needs a live
/// access token), yet `POST /auth/refresh` requires it like every unsafe
/// cookie request. Only the refresh cookie authenticates this: it is
/// `SameSite=Strict` and sent to this path alone, and without CORS headers
/// no other site's page can read the answer. `404` in the other
/// strategies.
#[utoipa::path(
    get,
    path = "/auth/refresh",
    operation_id = "refresh_csrf",
    tag = "auth",
    responses(
        (status = 200, description = "The session's CSRF token.", body = RefreshCsrf),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ),
    security(("refresh_cookie" = [])),
)]
pub(crate) async fn csrf_for_refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> Result<Json<RefreshCsrf>, ApiError> {
    if state.auth.strategy() != Strategy::AccessRefresh {
        return Err(ApiError::not_found());
    }
    let ip = client.rate_key();
    state
        .auth
        .check_rates(&[(LimitClass::RefreshIp, &ip)])
        .await?;
    csrf::check_origin(&headers, client.host(&headers))?;
    let cookies = CookiePolicy::for_request(state.http.cookie_secure, client.tls);
    let token = cookies
        .refresh_from(&headers)
        .ok_or_else(ApiError::unauthenticated)?;
    let session = state.auth.refresh_session(&token).await?;
    Ok(Json(RefreshCsrf {
        csrf_token: session.csrf_token.expose().to_owned(),
    }))
}
