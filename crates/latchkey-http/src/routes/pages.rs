//! The built-in pages (`/` to sign in or register, `/account` for devices,
//! password and security log) and `/latchkey.js`, the browser client they
//! use, compiled into the binary: nothing to install, no CDN to trust.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

/// The pages' policy: scripts, styles and requests only from this origin,
/// never inline (the pages have none), nothing else, never framed.
const PAGE_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> Response {
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

pub(crate) async fn index() -> Response {
    asset(HTML, include_str!("../../assets/index.html"))
}

pub(crate) async fn account() -> Response {
    asset(HTML, include_str!("../../assets/account.html"))
}

pub(crate) async fn client_library() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/latchkey.js"))
}

pub(crate) async fn login_script() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/login.js"))
}

pub(crate) async fn account_script() -> Response {
    asset(JAVASCRIPT, include_str!("../../assets/account.js"))
}

pub(crate) async fn stylesheet() -> Response {
    asset(CSS, include_str!("../../assets/app.css"))
}
