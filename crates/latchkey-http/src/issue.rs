//! Handing new credentials to a client, the way its kind expects them:
//! cookies and a CSRF token for browsers, tokens in the body for apps.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use latchkey_core::{
    service::{Credentials, Login},
    session::ClientKind,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Type},
};

use crate::transport::CookiePolicy;

/// A web login's answer: the credential went into cookies, the body has
/// what page scripts need.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebLogin {
    /// The user's id.
    user_id: String,
    /// The username.
    username: String,
    /// The new session's id (as in `GET /auth/sessions`).
    session_id: String,
    /// Send as `X-CSRF-Token` on every unsafe request.
    csrf_token: String,
    /// When the session ends.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// A mobile login's answer: the bearer token.
#[derive(Serialize, ToSchema)]
pub(crate) struct MobileLogin {
    /// Send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    #[schema(schema_with = bearer)]
    token_type: &'static str,
    /// Seconds until `access_token` expires.
    expires_in: i64,
    /// `access-refresh` only: spend at `POST /auth/refresh` for a new pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The schema of [`MobileLogin::token_type`].
fn bearer() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["Bearer"]))
}

/// The answer to a login or refresh: which one depends on the client.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum LoginResponse {
    /// A browser's.
    Web(WebLogin),
    /// An app's.
    Mobile(MobileLogin),
}

/// Adds the session cookie, and the refresh cookie if there is a refresh
/// token (it lives until `session_ends`, and goes only to `refresh_path`),
/// to `jar`.
pub(crate) fn set_cookies(
    jar: CookieJar,
    cookies: CookiePolicy,
    credentials: &Credentials,
    session_ends: OffsetDateTime,
    now: OffsetDateTime,
    refresh_path: &str,
) -> CookieJar {
    let jar = jar.add(cookies.session_cookie(
        credentials.access.clone(),
        credentials.cookie_expires_at - now,
    ));
    match &credentials.refresh {
        Some(refresh) => {
            jar.add(cookies.refresh_cookie(refresh.clone(), session_ends - now, refresh_path))
        }
        None => jar,
    }
}

/// The response to a login or refresh.
pub(crate) fn respond(
    login: &Login,
    kind: ClientKind,
    cookies: CookiePolicy,
    jar: CookieJar,
    now: OffsetDateTime,
    refresh_path: &str,
) -> Response {
    let session = &login.session;
    let credentials = &login.credentials;
    match kind {
        ClientKind::Web => {
            let jar = set_cookies(
                jar,
                cookies,
                credentials,
                session.expires_at,
                now,
                refresh_path,
            );
            let body = LoginResponse::Web(WebLogin {
                user_id: session.user_id.to_string(),
                username: login.username.to_string(),
                session_id: session.id.to_string(),
                csrf_token: session.csrf_token.expose().to_owned(),
                expires_at: session.expires_at,
            });
            (jar, Json(body)).into_response()
        }
        ClientKind::Mobile => Json(LoginResponse::Mobile(MobileLogin {
            access_token: credentials.access.clone(),
            token_type: "Bearer",
            expires_in: (credentials.access_expires_at - now).whole_seconds(),
            refresh_token: credentials.refresh.clone(),
        }))
        .into_response(),
    }
}
