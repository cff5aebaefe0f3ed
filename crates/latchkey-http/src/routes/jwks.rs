//! `GET /.well-known/jwks.json`: the public keys that verify latchkey's
//! tokens, for services that check them on their own.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ArrayBuilder, ObjectBuilder, RefOr, Schema, Type},
};

use super::openapi::NotFound;
use crate::{error::ApiError, state::AppState};

/// Cached for a minute: a rotated-in key signs at once, so verifiers that
/// meet an unknown `kid` should refetch rather than wait.
const CACHE: &str = "public, max-age=60";

/// The JSON Web Key Set the JWT strategies publish (RFC 7517): EdDSA
/// (Ed25519) or ES256 (P-256) keys, never HMAC ones.
pub(crate) enum JwkSet {}

impl PartialSchema for JwkSet {
    fn schema() -> RefOr<Schema> {
        let one_of = |values: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(values.iter().copied()))
        };
        let base64url = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_-]+$"))
        };
        let key = ObjectBuilder::new()
            .description(Some(
                "A public key: `OKP`/`Ed25519` (`x`) or `EC`/`P-256` (`x`, `y`).",
            ))
            .property("kty", one_of(&["OKP", "EC"]))
            .property("crv", one_of(&["Ed25519", "P-256"]))
            .property("alg", one_of(&["EdDSA", "ES256"]))
            .property("use", one_of(&["sig"]))
            .property(
                "kid",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The `kid` of the tokens this key verifies.")),
            )
            .property("x", base64url())
            .property("y", base64url())
            .required("kty")
            .required("crv")
            .required("alg")
            .required("kid")
            .required("x");
        ObjectBuilder::new()
            .description(Some("The keys that still verify a live token."))
            .property("keys", ArrayBuilder::new().items(key))
            .required("keys")
            .into()
    }
}

impl ToSchema for JwkSet {}

/// The public signing keys.
///
/// For services that verify latchkey's JWTs themselves. A key that
/// signed a live token stays until the token expires; a rotated-in key
/// signs at once, so a verifier that meets an unknown `kid` should refetch.
/// `404` in the `session` strategy.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "keys",
    responses(
        (status = 200, description = "The public keys.", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 404, response = NotFound),
    ),
    security(()),
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.auth.strategy().uses_jwt() {
        return Err(ApiError::not_found());
    }
    Ok(([(header::CACHE_CONTROL, CACHE)], Json(state.auth.jwks())).into_response())
}
