//! Forward authentication for reverse proxies (nginx `auth_request`,
//! Traefik `ForwardAuth`, Caddy `forward_auth`).

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method},
    response::{IntoResponse, Response},
};

use super::me::Me;
use crate::{csrf::is_safe, error::ApiError, extract::authenticate, state::AppState};

/// The method of the request being guarded, as proxies report it
/// (`X-Original-Method` from nginx, `X-Forwarded-Method` from Traefik and
/// Caddy). The most restrictive reading wins: if any of them names an
/// unsafe method, or cannot be read, the request is treated as unsafe, so a
/// client cannot lower what its proxy reported. With neither header the
/// check treats the request as a GET: configure the proxy to send one.
fn guarded_method(headers: &HeaderMap) -> Method {
    for value in ["x-original-method", "x-forwarded-method"]
        .iter()
        .flat_map(|h| headers.get_all(*h))
    {
        match Method::from_bytes(value.as_bytes()) {
            Ok(m) if is_safe(&m) => {}
            Ok(m) => return m,
            Err(_) => return Method::POST,
        }
    }
    Method::GET
}

/// `GET /auth/verify`: 200 with the identity headers, or the contract's 401.
/// Cookie requests guarding an unsafe method need the CSRF token too.
pub(crate) async fn verify(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let method = guarded_method(&parts.headers);
    let auth = authenticate(&mut parts, &state, &method).await?;
    let me = Me::from(&auth);
    let mut response = Json(&me).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-auth-user-id", &me.user_id),
        ("x-auth-username", &me.username),
        ("x-auth-session-id", &me.session_id),
    ] {
        // Usernames are printable text (checked at registration), so this
        // cannot fail; skip rather than panic if it ever did.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    Ok(response)
}
