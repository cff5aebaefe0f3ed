//! Registration and login.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use latchkey_core::{AuthError, ratelimit::LimitClass, session::ClientKind, user::Username};
use serde::{Deserialize, Serialize};

use crate::{
    client::ClientInfo, csrf, error::ApiError, issue, json::AppJson, state::AppState,
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
    let ip = client.rate_key();
    state
        .auth
        .check_rates(&[(LimitClass::RegisterIp, &ip)])
        .await?;
    let user = state.auth.register(&body.username, &body.password).await?;
    metrics::counter!("latchkey_registrations_total").increment(1);
    let created = Registered {
        id: user.id.to_string(),
        username: user.username.to_string(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
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
    // Before any lookup or hashing, and the same for names that exist
    // and names that do not.
    let name = Username::parse(&body.username)
        .map_or_else(|_| body.username.trim().to_lowercase(), |u| u.key());
    limit_password_guesses(&state, &client, &name).await?;
    let context = client.context();
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
    let cookies = CookiePolicy::for_request(state.http.cookie_secure, client.tls);
    Ok(issue::respond(&login, kind, cookies, jar, state.auth.now()))
}

/// Counts a password guess for `name` (a username key) from `client`
/// against the login limits: per address, per name from this address, and
/// per name from anywhere. Login and password change share them, so a
/// stolen session cannot guess the password faster than a stranger.
pub(super) async fn limit_password_guesses(
    state: &AppState,
    client: &ClientInfo,
    name: &str,
) -> Result<(), ApiError> {
    let ip = client.rate_key();
    let name_at_ip = format!("{name}\u{0}{ip}");
    state
        .auth
        .check_rates(&[
            (LimitClass::LoginIp, &ip),
            (LimitClass::LoginUserIp, &name_at_ip),
            (LimitClass::LoginUser, name),
        ])
        .await?;
    Ok(())
}
