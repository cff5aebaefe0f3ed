//! `POST /auth/password`: change the caller's password.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    login::limit_password_guesses,
    openapi::{Forbidden, InvalidRequest, RateLimited, Unauthenticated, Unavailable},
};
use crate::{
    client::ClientInfo, error::ApiError, extract::Authenticated, json::AppJson, state::AppState,
};

/// A password change.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordChange {
    /// The password now.
    #[schema(max_length = 1024)]
    current_password: String,
    /// The new one: 8 to 1024 characters, not the current one.
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
}

/// Change the caller's password.
///
/// `204`, and every other session of the caller ends; this one stays. A
/// wrong current password is `403 forbidden`. The current password is
/// checked under the same per-user and per-address limits as a login, so
/// a stolen session cannot guess it at leisure.
#[utoipa::path(
    post,
    path = "/auth/password",
    operation_id = "change_password",
    tag = "account",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session is ended."),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
)]
pub(crate) async fn change(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(body): AppJson<PasswordChange>,
) -> Result<Response, ApiError> {
    limit_password_guesses(&state, &client, &auth.caller.username.key()).await?;
    let ended = state
        .auth
        .change_password(&auth.caller, &body.current_password, &body.new_password)
        .await?;
    metrics::counter!("latchkey_password_changes_total").increment(1);
    metrics::counter!("latchkey_revocations_total", "reason" => "password_change").increment(ended);
    Ok(StatusCode::NO_CONTENT.into_response())
}
