//! The built-in pages (`/` to sign in or register, `/account` for devices,
//! password and security log) and `/latchkey.js`, the browser client they
//! use, compiled into the binary: nothing to install, no CDN to trust.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::state::AppState;

/// The pages' policy: scripts, styles and requests only from this origin,
/// never inline (the pages have none), nothing else, never framed.
const PAGE_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A page's HTML with its asset links under the mount prefix. The scripts
/// need no such care: they find everything relative to their own URL.
fn page(state: &AppState, html: &'static str) -> Response {
    let base = state.http.base_path();
    if base.is_empty() {
        asset(HTML, html)
    } else {
        asset(
            HTML,
            html.replace("\"/assets/", &format!("\"{base}/assets/")),
        )
    }
}

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// The sign-in and registration page.
///
/// Under a mount prefix it is also served at the prefix itself, without
/// the trailing slash.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "index",
    tag = "pages",
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
    ),
    security(()),
)]
pub(crate) async fn index(State(state): State<AppState>) -> Response {
    page(&state, include_str!("../../assets/index.html"))
}

/// The account page: devices, password, security log.
#[utoipa::path(
    get,
    path = "/account",
    operation_id = "account",
    tag = "pages",
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
    ),
    security(()),
)]
pub(crate) async fn account(State(state): State<AppState>) -> Response {
    page(&state, include_str!("../../assets/account.html"))
}

/// `latchkey.js`, the browser client (an ES module).
#[utoipa::path(
    get,
    path = "/latchkey.js",
    operation_id = "client_library",
    tag = "pages",
    responses(
        (status = 200, description = "The module.", body = String, content_type = "text/javascript"),
    ),
    security(()),
)]
pub(crate) async fn client_library() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/latchkey.js"))
}

/// The sign-in page's script.
#[utoipa::path(
    get,
    path = "/assets/login.js",
    operation_id = "login_script",
    tag = "pages",
    responses(
        (status = 200, description = "The script.", body = String, content_type = "text/javascript"),
    ),
    security(()),
)]
pub(crate) async fn login_script() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/login.js"))
}

/// The account page's script.
#[utoipa::path(
    get,
    path = "/assets/account.js",
    operation_id = "account_script",
    tag = "pages",
    responses(
        (status = 200, description = "The script.", body = String, content_type = "text/javascript"),
    ),
    security(()),
)]
pub(crate) async fn account_script() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/account.js"))
}

/// The pages' stylesheet.
#[utoipa::path(
    get,
    path = "/assets/app.css",
    operation_id = "stylesheet",
    tag = "pages",
    responses(
        (status = 200, description = "The stylesheet.", body = String, content_type = "text/css"),
    ),
    security(()),
)]
pub(crate) async fn stylesheet() -> Response {
    asset(CSS, include_str!("../../assets/app.css"))
}
