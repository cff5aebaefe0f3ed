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
use serde_json::{Value, json};
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Type, schema::SchemaType},
};

use super::openapi::{
    Conflict, CsrfFailed, InvalidRequest, RateLimited, Unauthenticated, Unavailable,
};
use crate::{
    client::ClientInfo,
    csrf,
    error::ApiError,
    issue::{self, LoginResponse},
    json::AppJson,
    state::AppState,
    transport::CookiePolicy,
};

/// A new account.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
pub(crate) struct Registration {
    /// 1 to 64 characters once trimmed and put in Unicode NFC, no white
    /// space or control characters inside; unique after full case folding.
    #[schema(min_length = 1)]
    username: String,
    /// 8 to 1024 characters, no composition rules.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// A login.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple", "client": "mobile"}))]
pub(crate) struct Credentials {
    /// The username, as registered (compared after normalization).
    username: String,
    /// The password (at most 1024 characters).
    #[schema(max_length = 1024)]
    password: String,
    /// `web` or `mobile`.
    #[schema(schema_with = client_kind)]
    client: Option<String>,
}

/// The schema of [`Credentials::client`].
fn client_kind() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([json!("web"), json!("mobile"), Value::Null]))
        .default(Some(json!("web")))
        .description(Some(
            "`web` (the default, also for `null`): cookies and a CSRF token; \
             `mobile`: a bearer token in the body.",
        ))
}

/// The account made.
#[derive(Serialize, ToSchema)]
struct Registered {
    /// The user's id.
    id: String,
    /// The username as stored (trimmed, NFC).
    username: String,
}

/// Create an account.
///
/// Rate limited per address (20/min). Checks the `Origin` (login CSRF)
/// but needs no credential. A taken name is `409`, the one answer that
/// tells whether a username exists.
#[utoipa::path(
    post,
    path = "/auth/register",
    operation_id = "register",
    tag = "auth",
    request_body = Registration,
    responses(
        (status = 201, description = "The account exists.", body = Registered),
        (status = 400, response = InvalidRequest),
        (status = 403, response = CsrfFailed),
        (status = 409, response = Conflict),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ),
    security(()),
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    AppJson(body): AppJson<Registration>,
) -> Result<Response, ApiError> {
    csrf::check_origin(&headers, client.host(&headers))?;
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

/// Log in.
///
/// A new session every time: a credential the client already holds is
/// never adopted, so a planted session id is useless. Browsers get the
/// session cookie (and in `access-refresh` the refresh cookie) and the
/// CSRF token; apps get a bearer token (and a refresh token). Rate limited
/// per address, per username and address, and per username, before any
/// lookup; a wrong password and an unknown name are the same `401`.
#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in: a web or a mobile login.", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "Web logins: the session cookie \
                (`HttpOnly; SameSite=Lax; Path=/`), and in `access-refresh` the refresh \
                cookie (`HttpOnly; SameSite=Strict; Path=/auth/refresh`)."))),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ),
    security(()),
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    AppJson(body): AppJson<Credentials>,
) -> Result<Response, ApiError> {
    // Login CSRF: a foreign page must not sign the browser into an account
    // of the attacker's choosing.
    csrf::check_origin(&headers, client.host(&headers))?;
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
    Ok(issue::respond(
        &login,
        kind,
        cookies,
        jar,
        state.auth.now(),
        &state.http.refresh_path,
    ))
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
