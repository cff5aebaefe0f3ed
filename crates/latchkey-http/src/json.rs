//! Request bodies: `axum::Json`, but a bad body is our 400, not axum's text.

use axum::extract::FromRequest;

use crate::error::ApiError;

/// A JSON request body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct AppJson<T>(pub(crate) T);
