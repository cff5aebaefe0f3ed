//! Registration and login.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use latchkey_core::{
    AuthError,
    session::{ClientContext, ClientKind},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    client::ClientInfo, csrf, error::ApiError, json::AppJson, state::AppState,
    transport::CookiePolicy,
};

#[derive(Deserialize)]
pub(crate) struct Credentials {
    username: String,
    password: String,
    client: Option<String>,
}

#[derive(Serialize)]
struct Registered {
    id: String,
    username: String,
}

pub(crate) async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    AppJson(body): AppJson<Credentials>,
) -> Result<Response, ApiError> {
    csrf::check_origin(&headers, client.host.as_deref())?;
    let user = state.auth.register(&body.username, &body.password).await?;
    metrics::counter!("latchkey_registrations_total").increment(1);
    let created = Registered {
        id: user.id.to_string(),
        username: user.username.to_string(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

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
}

/// `POST /auth/login`. A new session every time: a credential the client
/// already holds is never adopted, so a planted session id is useless.
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    AppJson(body): AppJson<Credentials>,
) -> Result<Response, ApiError> {
    // Login CSRF: a foreign page must not sign the browser into an account
    // of the attacker's choosing.
    csrf::check_origin(&headers, client.host.as_deref())?;
    let kind = match body.client.as_deref() {
        None | Some("web") => ClientKind::Web,
        Some("mobile") => ClientKind::Mobile,
        Some(_) => return Err(ApiError::invalid("client must be \"web\" or \"mobile\"")),
    };
    let context = ClientContext::new(Some(client.ip), client.user_agent.as_deref());
    let result = state
        .auth
        .login(&body.username, &body.password, kind, context)
        .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(_) => "error",
    };
    metrics::counter!("latchkey_logins_total", "client" => kind.as_str(), "result" => outcome)
        .increment(1);
    let login = result?;
    let session = &login.session;
    let credentials = &login.credentials;
    let lifetime = credentials.access_expires_at - state.auth.now();
    match kind {
        ClientKind::Web => {
            let cookies = CookiePolicy::for_request(state.http.cookie_secure, client.tls);
            let jar = jar.add(cookies.session_cookie(credentials.access.clone(), lifetime));
            let body = WebLogin {
                user_id: session.user_id.to_string(),
                username: login.username.to_string(),
                session_id: session.id.to_string(),
                csrf_token: session.csrf_token.expose().to_owned(),
                expires_at: session.expires_at,
            };
            Ok((jar, Json(body)).into_response())
        }
        ClientKind::Mobile => Ok(Json(MobileLogin {
            access_token: credentials.access.clone(),
            token_type: "Bearer",
            expires_in: lifetime.whole_seconds(),
        })
        .into_response()),
    }
}
