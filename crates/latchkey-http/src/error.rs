//! The one place where errors become HTTP responses.
//!
//! Every error is `{"error": CODE, "message": TEXT}`. Internal failures are
//! logged here and answered with a fixed text, so no query, path or stack
//! trace reaches a client.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use latchkey_core::AuthError;
use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Type},
};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The request presented a bearer token: a 401 says `invalid_token`.
    bearer: bool,
    retry_after: Option<u64>,
}

/// Every code an error can carry, for the OpenAPI document: the contract's
/// codes and `internal_error`, the one a bug answers with.
pub(crate) const ERROR_CODES: [&str; 11] = [
    "invalid_request",
    "unauthenticated",
    "session_revoked",
    "csrf_failed",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "unavailable",
    "internal_error",
];

/// Every error response: a stable code and a text for people. The text
/// never names a query, a path, a stack frame, or whether a username
/// exists.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": "unauthenticated", "message": "authentication required"}))]
pub(crate) struct Body<'a> {
    /// The stable, machine-readable code.
    #[schema(schema_with = error_code)]
    error: &'a str,
    /// What went wrong, for people; may change between versions.
    message: &'a str,
}

/// The schema of [`Body::error`]: one of [`ERROR_CODES`].
fn error_code() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ERROR_CODES))
        .description(Some("The stable, machine-readable code."))
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            bearer: false,
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        AuthError::Unauthenticated.into()
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        AuthError::NotFound.into()
    }

    /// 403 `csrf_failed`.
    pub fn csrf(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf_failed", message)
    }

    /// Marks the error as answering a bearer-token request.
    pub fn for_bearer(mut self, bearer: bool) -> Self {
        self.bearer = bearer;
        self
    }

    /// The status this error will be answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The contract's code for a status, for responses that were not made
    /// by [`ApiError`] (framework and middleware rejections).
    pub fn code_for_status(status: StatusCode) -> &'static str {
        match status {
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => "unavailable",
            s if s.is_server_error() => "internal_error",
            _ => "invalid_request",
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            AuthError::InvalidRequest(_) => (S::BAD_REQUEST, "invalid_request"),
            AuthError::InvalidCredentials | AuthError::Unauthenticated => {
                (S::UNAUTHORIZED, "unauthenticated")
            }
            AuthError::SessionRevoked => (S::UNAUTHORIZED, "session_revoked"),
            AuthError::CsrfFailed(_) => (S::FORBIDDEN, "csrf_failed"),
            AuthError::Forbidden(_) => (S::FORBIDDEN, "forbidden"),
            AuthError::NotFound => (S::NOT_FOUND, "not_found"),
            AuthError::UsernameTaken => (S::CONFLICT, "conflict"),
            AuthError::RateLimited(_) => (S::TOO_MANY_REQUESTS, "rate_limited"),
            AuthError::Busy => (S::SERVICE_UNAVAILABLE, "unavailable"),
            AuthError::Unavailable(why) => {
                tracing::error!(error = %why, "dependency unavailable");
                (S::SERVICE_UNAVAILABLE, "unavailable")
            }
            AuthError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                (S::INTERNAL_SERVER_ERROR, "internal_error")
            }
        };
        let message = match &e {
            AuthError::Unavailable(_) => {
                "service temporarily unavailable, retry shortly".to_owned()
            }
            AuthError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut err = Self::new(status, code, message);
        if status == S::SERVICE_UNAVAILABLE {
            err.retry_after = Some(1);
        }
        if let AuthError::RateLimited(wait) = e {
            // Whole seconds, rounded up: never "retry now" while limited.
            err.retry_after = Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
        }
        err
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is too large",
            );
        }
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "expected a JSON body with Content-Type: application/json".to_owned()
            }
            // serde's text can quote a value (which may be a password typed
            // into the wrong field), so only "missing field `x`" is passed on.
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                match text.find("missing field `") {
                    Some(at) => text[at..].split(" at line").next().unwrap_or("").to_owned(),
                    None => "request body has a field of the wrong type".to_owned(),
                }
            }
            JsonRejection::JsonSyntaxError(_) => "request body is not valid JSON".to_owned(),
            _ => "could not read the request body".to_owned(),
        };
        Self::invalid(message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.bearer {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
