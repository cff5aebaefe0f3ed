//! `GET /openapi.json`: the OpenAPI 3.1 description of every route, made
//! from the handlers' own `#[utoipa::path]` annotations. The router
//! registers each handler through utoipa-axum's `routes!`, which adds the
//! route and its description together, so a route cannot be served
//! without being described, nor described without being served.
//!
//! The document is rendered once, when the router is built, and served as
//! it is. Under a mount prefix (`/id`) its paths stay the contract's and
//! `servers` carries the prefix.

mod responses;

use std::sync::{Arc, OnceLock};

use axum::{
    Extension,
    body::Bytes,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
pub(crate) use responses::{
    Conflict, CsrfFailed, Forbidden, InternalError, InvalidRequest, NotFound, RateLimited,
    Unauthenticated, Unavailable,
};
use responses::{HeadersTooLarge, PayloadTooLarge, REQUIRED};
pub(crate) use responses::{optional_header, required_header};
use serde_json::{Map, Value, json};
use utoipa::{
    Modify, OpenApi, ToResponse,
    openapi::{
        self,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::refresh::RefreshBody;
use crate::error::{ApiError, Body};

/// How long clients and caches may keep the document: it changes only
/// when the server is upgraded or reconfigured.
const CACHE: &str = "public, max-age=300";

/// The names the document gives its security schemes.
pub(crate) mod scheme {
    /// `Authorization: Bearer …`: apps.
    pub(crate) const BEARER: &str = "bearer";
    /// The session cookie: browsers.
    pub(crate) const SESSION_COOKIE: &str = "session_cookie";
    /// `X-CSRF-Token`, with the session cookie on unsafe requests.
    pub(crate) const CSRF_TOKEN: &str = "csrf_token";
    /// The refresh cookie (`access-refresh`, browsers).
    pub(crate) const REFRESH_COOKIE: &str = "refresh_cookie";
}

const DESCRIPTION: &str = "\
latchkey registers and logs users in, hands each client the right kind of \
credential, checks it on every request, and revokes it on demand.

**Browsers** (`client: \"web\"` at login) get an `HttpOnly` session cookie \
(`latchkey_session`, or `__Host-latchkey_session` when `Secure`) and a \
`csrf_token` in the body; every cookie-authenticated request whose method \
is not GET, HEAD or OPTIONS must carry it in `X-CSRF-Token`. **Apps** \
(`client: \"mobile\"`) get a bearer token and send `Authorization: Bearer …`; \
a bearer header wins over a cookie and needs no CSRF token.

One strategy per deployment: `session` (opaque id), `stateful-jwt`, \
`access-refresh` (short JWT plus a refresh token; only this one serves \
`/auth/refresh`) and `auto-refresh` (an expired JWT of a live session is \
renewed on the way: `X-Refreshed-Token` for apps, a new cookie for \
browsers). `/.well-known/jwks.json` is served by the JWT strategies only.

Every error is `{\"error\": CODE, \"message\": TEXT}` with a stable CODE. \
Every response carries `Cache-Control: no-store` (except the public key \
set and this document), `X-Content-Type-Options: nosniff`, \
`Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, a \
`Content-Security-Policy` and `X-Request-Id`.";

/// The document's fixed parts; the paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "latchkey",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Registration, login and token refresh."),
        (name = "sessions", description = "The caller, their sessions, and signing out."),
        (name = "account", description = "Password and security log."),
        (name = "forward-auth", description = "For reverse proxies guarding other services."),
        (name = "keys", description = "Public keys for services that verify tokens themselves."),
        (name = "pages", description = "The built-in sign-in and account pages and `latchkey.js`."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    ),
    components(
        // Named by `ref`s that utoipa does not follow.
        schemas(Body, RefreshBody),
        responses(
            InvalidRequest, Unauthenticated, CsrfFailed, Forbidden, NotFound, Conflict,
            PayloadTooLarge, RateLimited, HeadersTooLarge, InternalError, Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
pub(crate) struct ApiDoc;

/// Adds the security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            scheme::BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or opaque")
                    .description(Some(
                        "The `access_token` of a mobile login or refresh: a JWT in the \
                         JWT strategies, an opaque session id in `session`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            scheme::SESSION_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "latchkey_session",
                "The session cookie of a web login (`__Host-latchkey_session` \
                 when the cookie is `Secure`). Unsafe requests need `X-CSRF-Token` too.",
            ))),
        );
        components.add_security_scheme(
            scheme::CSRF_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The `csrf_token` of the web login (again from `GET /auth/session`): \
                 required with the session cookie on POST, PUT, PATCH and DELETE.",
            ))),
        );
        components.add_security_scheme(
            scheme::REFRESH_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "latchkey_refresh",
                "The refresh cookie of a web login in `access-refresh` \
                 (`__Secure-latchkey_refresh` when `Secure`), sent to `/auth/refresh` only.",
            ))),
        );
    }
}

/// Where the router leaves the rendered document for its handler: the
/// document describes the router, so it exists only once the router does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document(Arc<OnceLock<Bytes>>);

impl Document {
    /// Renders `api`, the description of a router mounted under `base`,
    /// for the handler.
    pub(crate) fn set(&self, api: openapi::OpenApi, base: &str) {
        // Set once, by the router that made this slot.
        let _ = self.0.set(render(api, base));
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 description of this API.",
            content_type = "application/json", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    ),
    security(()),
)]
pub(crate) async fn document(Extension(document): Extension<Document>) -> Response {
    let Some(json) = document.0.get() else {
        tracing::error!("the OpenAPI document was never rendered");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
        .into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(CACHE)),
        ],
        json.clone(),
    )
        .into_response()
}

/// The document as served: `api` completed with what holds for every
/// operation, and with `base` as its server, as pretty-printed JSON.
fn render(api: openapi::OpenApi, base: &str) -> Bytes {
    let value = complete(api, base);
    match serde_json::to_vec_pretty(&value) {
        Ok(json) => Bytes::from(json),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            Bytes::new()
        }
    }
}

/// `api` as JSON, completed: the mount prefix as its server, the
/// responses any request can meet on every operation, and the renewal
/// headers of `auto-refresh` on every success of an authenticated one.
pub(crate) fn complete(api: openapi::OpenApi, base: &str) -> Value {
    let mut value = serde_json::to_value(&api).unwrap_or(Value::Null);
    mark_required_headers(&mut value);
    if !base.is_empty() {
        value["servers"] = json!([{
            "url": base,
            "description": "latchkey, mounted under this prefix",
        }]);
    }
    let common = [
        ("413", PayloadTooLarge::response().0),
        ("431", HeadersTooLarge::response().0),
        ("500", InternalError::response().0),
        ("503", Unavailable::response().0),
    ];
    let renewal = json!({
        "X-Refreshed-Token": optional_header(
            "`auto-refresh`, bearer requests: the renewed access token, sent when the \
             presented one had expired while its session lives; use it from now on.",
        ),
        "Set-Cookie": optional_header(
            "`auto-refresh`, cookie requests: the renewed session cookie.",
        ),
    });
    let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) else {
        return value;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in operation.values_mut() {
            let authenticated = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get(scheme::BEARER).is_some()));
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            for (status, name) in common {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
            }
            if authenticated {
                add_renewal_headers(responses, &renewal);
            }
        }
    }
    value
}

/// Turns the `x-required` extension of every header object in `value`
/// into the Header Object's `required: true`.
fn mark_required_headers(value: &mut Value) {
    let extension = format!("x-{REQUIRED}");
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(headers)) = object.get_mut("headers") {
                for header in headers.values_mut().filter_map(Value::as_object_mut) {
                    if header.remove(&extension) == Some(Value::Bool(true)) {
                        header.insert("required".to_owned(), Value::Bool(true));
                    }
                }
            }
            object.values_mut().for_each(mark_required_headers);
        }
        Value::Array(items) => items.iter_mut().for_each(mark_required_headers),
        _ => {}
    }
}

/// Adds `renewal`'s headers to the 2xx responses in `responses` that do
/// not name them already.
fn add_renewal_headers(responses: &mut Map<String, Value>, renewal: &Value) {
    // A `$ref` response is shared; its headers are its own.
    let successes = responses
        .iter_mut()
        .filter(|(status, response)| status.starts_with('2') && response.get("$ref").is_none())
        .map(|(_, response)| response);
    for response in successes {
        let headers = response
            .as_object_mut()
            .map(|r| r.entry("headers").or_insert_with(|| json!({})));
        if let (Some(Value::Object(headers)), Value::Object(renewal)) = (headers, renewal) {
            for (name, header) in renewal {
                headers
                    .entry(name.clone())
                    .or_insert_with(|| header.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
