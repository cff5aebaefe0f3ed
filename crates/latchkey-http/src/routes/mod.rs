//! Routes, one module per resource.

mod events;
mod health;
mod jwks;
mod login;
pub(crate) mod me;
mod openapi;
mod pages;
mod password;
mod refresh;
mod sessions;
mod verify;

use axum::{Extension, Router, routing::get};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, router::UtoipaMethodRouterExt, routes};

use crate::{error::ApiError, state::AppState};

/// Every route of the contract this build serves, under `base` (`""`, or
/// a mount prefix such as `/id`).
pub(crate) fn router(base: &str) -> Router<AppState> {
    let document = openapi::Document::default();
    let (routes, api) = contract_routes(&document).split_for_parts();
    document.set(api, base);
    if base.is_empty() {
        return routes;
    }
    // Nested, `/` becomes `/id`; the sign-in page is also at `/id/`, the
    // address its relative links are written for (and the one the
    // document's `/` names, under its server `/id`).
    Router::new()
        .nest(base, routes)
        .route(&format!("{base}/"), get(pages::index))
}

/// The contract's routes, at the paths it names, and their description;
/// `document` is where `GET /openapi.json` finds the rendered one.
fn contract_routes(document: &openapi::Document) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(login::register))
        .routes(routes!(login::login))
        .routes(routes!(refresh::refresh, refresh::csrf_for_refresh))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::logout_all))
        .routes(routes!(me::me))
        .routes(routes!(me::session))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(password::change))
        .routes(routes!(events::list))
        .routes(routes!(verify::verify))
        .routes(routes!(jwks::jwks))
        .routes(routes!(pages::index))
        .routes(routes!(pages::account))
        .routes(routes!(pages::client_library))
        .routes(routes!(pages::login_script))
        .routes(routes!(pages::account_script))
        .routes(routes!(pages::stylesheet))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::document).layer(Extension(document.clone())))
}

/// The contract's `404`, for every path no route serves.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}
