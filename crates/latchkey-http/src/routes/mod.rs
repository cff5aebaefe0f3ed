//! Routes, one module per resource.

mod events;
mod health;
mod jwks;
mod login;
mod me;
mod pages;
mod password;
mod refresh;
mod sessions;
mod verify;

use axum::{
    Router,
    routing::{delete, get, post},
};

use crate::{error::ApiError, state::AppState};

/// Every route of the contract this build serves.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(login::register))
        .route("/auth/login", post(login::login))
        .route(
            "/auth/refresh",
            post(refresh::refresh).get(refresh::csrf_for_refresh),
        )
        .route("/auth/logout", post(sessions::logout))
        .route("/auth/logout-all", post(sessions::logout_all))
        .route("/auth/me", get(me::me))
        .route("/auth/session", get(me::session))
        .route("/auth/sessions", get(sessions::list))
        .route("/auth/sessions/{id}", delete(sessions::revoke))
        .route("/auth/password", post(password::change))
        .route("/auth/events", get(events::list))
        .route("/auth/verify", get(verify::verify))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/", get(pages::index))
        .route("/account", get(pages::account))
        .route("/latchkey.js", get(pages::client_library))
        .route("/assets/login.js", get(pages::login_script))
        .route("/assets/account.js", get(pages::account_script))
        .route("/assets/app.css", get(pages::stylesheet))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
