//! `GET /.well-known/jwks.json`: the public keys that verify latchkey's
//! tokens, for services that check them on their own.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, state::AppState};

/// Cached for a minute: a rotated-in key signs at once, so verifiers that
/// meet an unknown `kid` should refetch rather than wait.
const CACHE: &str = "public, max-age=60";

pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.auth.strategy().uses_jwt() {
        return Err(ApiError::not_found());
    }
    Ok(([(header::CACHE_CONTROL, CACHE)], Json(state.auth.jwks())).into_response())
}
