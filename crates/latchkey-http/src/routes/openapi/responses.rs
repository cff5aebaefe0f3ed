//! The error responses the OpenAPI document shares between operations
//! (`#/components/responses/…`), and the response headers it names.
//!
//! Each marker type stands for one status and the codes it can carry; a
//! handler's `#[utoipa::path]` lists the ones it can answer with
//! (`(status = 401, response = Unauthenticated)`), and
//! [`complete`](super::complete) adds those any request can meet.

use utoipa::{
    ToResponse, ToSchema,
    openapi::{
        ContentBuilder, Header, HeaderBuilder, ObjectBuilder, RefOr, Response, ResponseBuilder,
        Type,
        extensions::Extensions,
        schema::{AllOfBuilder, Ref},
    },
};

use crate::error::Body;

/// An error response with `description`, whose `error` is one of `codes`,
/// with `headers`.
fn error(
    description: &str,
    codes: &[&str],
    message: &str,
    headers: Vec<(&str, Header)>,
) -> RefOr<Response> {
    let narrowed = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().copied())),
    );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(Body::name()))
        .item(narrowed);
    let example = serde_json::json!({
        "error": codes.first().copied().unwrap_or("invalid_request"),
        "message": message,
    });
    let content = ContentBuilder::new()
        .schema(Some(schema))
        .example(Some(example))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    for (name, header) in headers {
        response = response.header(name, header);
    }
    response.build().into()
}

/// The extension that marks a header `required` (`x-` is added).
pub(super) const REQUIRED: &str = "required";

/// A string header that every response of its kind carries.
pub(crate) fn required_header(description: &str) -> Header {
    header(description, true)
}

/// A string header that some responses of their kind carry.
pub(crate) fn optional_header(description: &str) -> Header {
    header(description, false)
}

fn header(description: &str, required: bool) -> Header {
    let mut header = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description));
    if required {
        // utoipa's Header lacks the Header Object's `required`; this
        // extension stands for it until `complete` puts it in its place.
        header = header.extensions(Some(Extensions::builder().add(REQUIRED, true).build()));
    }
    header.build()
}

/// `Retry-After`, in whole seconds.
fn retry_after(what: &str) -> Header {
    let mut header = required_header(what);
    header.schema = Some(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]+$"))
            .into(),
    );
    header
}

/// Stamps out a marker type and its [`ToResponse`] impl.
macro_rules! error_response {
    (
        $(#[$doc:meta])* $name:ident, $description:expr, [$($code:literal),+ $(,)?],
        $message:literal $(, $header:expr)* $(,)?
    ) => {
        $(#[$doc])*
        pub(crate) enum $name {}

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let headers = vec![$($header),*];
                (stringify!($name), error($description, &[$($code),+], $message, headers))
            }
        }
    };
}

error_response!(
    /// 400: the request body, a query parameter or a value in it is not
    /// what the operation takes.
    InvalidRequest,
    "The request is malformed: a body that is not the JSON the operation takes, \
     a field of the wrong type or out of range, an unknown query parameter.",
    ["invalid_request"],
    "request body is not valid JSON"
);

error_response!(
    /// 401: no credential, a credential that is not valid, or a session
    /// that was ended.
    Unauthenticated,
    "No valid credential: none was presented, it is unknown, expired or \
     malformed (`unauthenticated`), or its session was ended by the user, an \
     admin, theft detection or an anomaly policy (`session_revoked`).",
    ["unauthenticated", "session_revoked"],
    "authentication required",
    (
        "WWW-Authenticate",
        required_header(
            "`Bearer`, or `Bearer error=\"invalid_token\"` when the request \
             presented a bearer token."
        )
    )
);

error_response!(
    /// 403 for an unsafe cookie request that fails the CSRF checks.
    CsrfFailed,
    "A cookie-authenticated unsafe request without the session's \
     `X-CSRF-Token`, or marked `Sec-Fetch-Site: cross-site`, or with an \
     `Origin` other than its `Host`; login and registration get the origin \
     checks too.",
    ["csrf_failed"],
    "missing X-CSRF-Token header"
);

error_response!(
    /// 403 for a password change: CSRF, or a wrong current password.
    Forbidden,
    "`csrf_failed` as for every unsafe cookie request, or `forbidden`: the \
     current password is wrong.",
    ["csrf_failed", "forbidden"],
    "current password is wrong"
);

error_response!(
    /// 404.
    NotFound,
    "Not found: nothing here, or nothing this deployment's strategy serves.",
    ["not_found"],
    "not found"
);

error_response!(
    /// 409: a taken username.
    Conflict,
    "The username is taken (after normalization: `Alice` is `alice`).",
    ["conflict"],
    "username is already taken"
);

error_response!(
    /// 413, for any request.
    PayloadTooLarge,
    "The request body is over `body_limit` (16 KiB by default).",
    ["payload_too_large"],
    "request body is too large"
);

error_response!(
    /// 429 with `Retry-After`.
    RateLimited,
    "Over a rate limit (per address, per username and address, per \
     username); retry after `Retry-After` seconds.",
    ["rate_limited"],
    "too many requests, retry later",
    ("Retry-After", retry_after("Seconds until the limit lets the next request through."))
);

error_response!(
    /// 431, for any request.
    HeadersTooLarge,
    "More than 64 header fields or 32 KiB of headers.",
    ["invalid_request"],
    "request headers are too large"
);

error_response!(
    /// 500, for any request: a bug.
    InternalError,
    "A bug; nothing of it is in the answer. Never expected.",
    ["internal_error"],
    "internal error"
);

error_response!(
    /// 503 with `Retry-After`, for any request.
    Unavailable,
    "The store is unreachable, password hashing is at capacity, or the \
     request took longer than `request_timeout`; retry after `Retry-After` \
     seconds.",
    ["unavailable"],
    "service temporarily unavailable, retry shortly",
    ("Retry-After", retry_after("Seconds to wait before retrying."))
);
