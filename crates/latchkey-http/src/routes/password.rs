//! `POST /auth/password`: change the caller's password.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::login::limit_password_guesses;
use crate::{
    client::ClientInfo, error::ApiError, extract::Authenticated, json::AppJson, state::AppState,
};

#[derive(Deserialize)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// 204, and every other session of the caller ends; this one stays. The
/// current password is checked under the same per-user and per-address
/// limits as a login, so a stolen session cannot guess it at leisure.
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
