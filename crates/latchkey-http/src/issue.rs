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

use crate::transport::CookiePolicy;

#[derive(Serialize)]
struct WebLogin {
    user_id: String,
    username: String,
    session_id: String,
    csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Serialize)]
struct MobileLogin {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// Adds the session cookie, and the refresh cookie if there is a refresh
/// token (it lives until `session_ends`), to `jar`.
pub(crate) fn set_cookies(
    jar: CookieJar,
    cookies: CookiePolicy,
    credentials: &Credentials,
    session_ends: OffsetDateTime,
    now: OffsetDateTime,
) -> CookieJar {
    let jar = jar.add(cookies.session_cookie(
        credentials.access.clone(),
        credentials.cookie_expires_at - now,
    ));
    match &credentials.refresh {
        Some(refresh) => jar.add(cookies.refresh_cookie(refresh.clone(), session_ends - now)),
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
) -> Response {
    let session = &login.session;
    let credentials = &login.credentials;
    match kind {
        ClientKind::Web => {
            let jar = set_cookies(jar, cookies, credentials, session.expires_at, now);
            let body = WebLogin {
                user_id: session.user_id.to_string(),
                username: login.username.to_string(),
                session_id: session.id.to_string(),
                csrf_token: session.csrf_token.expose().to_owned(),
                expires_at: session.expires_at,
            };
            (jar, Json(body)).into_response()
        }
        ClientKind::Mobile => Json(MobileLogin {
            access_token: credentials.access.clone(),
            token_type: "Bearer",
            expires_in: (credentials.access_expires_at - now).whole_seconds(),
            refresh_token: credentials.refresh.clone(),
        })
        .into_response(),
    }
}
