//! The middleware around every route, outermost first:
//! sensitive-header redaction → request id → tracing → metrics → response
//! hygiene (headers, error envelope) → panic catcher → header limits →
//! timeout → body limit.

use std::{
    any::Any,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use uuid::Uuid;

use crate::{csrf::CSRF_HEADER, error::ApiError, renewal, state::AppState};

/// The route template that served a response, for metric labels: the
/// template, not the path, so `/auth/sessions/{id}` is one series.
#[derive(Clone)]
struct RouteTag(String);

pub(crate) fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let http = &state.http;
    let x_request_id = HeaderName::from_static("x-request-id");
    // Each `Router::layer` call wraps every route in one more boxed
    // service, and every middleware clones the whole stack inside it on
    // every request: a dozen separate calls cost a hundred clones and
    // allocations per request, more than the rest of `/healthz`. So the
    // stack is composed first and applied in one call per kind.
    let per_route = ServiceBuilder::new()
        .layer(middleware::from_fn(renewal::deliver))
        .layer(middleware::from_fn(tag_route));
    // Outermost first.
    let around = ServiceBuilder::new()
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::SET_COOKIE,
            HeaderName::from_static(CSRF_HEADER),
        ]))
        .layer(SetRequestIdLayer::new(x_request_id.clone(), RequestIds::new()))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(middleware::from_fn(track_metrics))
        .layer(middleware::map_response(hygiene))
        // The layers below change the body type; the functions above take
        // axum's.
        .map_response(IntoResponse::into_response)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(limit_headers))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            http.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(http.body_limit))
        .layer(DefaultBodyLimit::max(http.body_limit));
    router.route_layer(per_route).layer(around)
}

/// Request ids: UUIDs (version 8, RFC 9562's own-format kind) made of a
/// random per-process prefix and a counter. Unique across a fleet like
/// random UUIDs, without asking the operating system for randomness on
/// every request; they are labels for logs, not secrets.
#[derive(Clone)]
struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: Uuid::new_v4().as_u64_pair().0,
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let id = Uuid::new_v8(bytes).hyphenated();
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        HeaderValue::from_str(id.encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// Most header bytes (names and values) a request may carry. Generous for a
/// browser with a full cookie jar; hyper's own, larger limit answers with an
/// empty 431 above this one.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields a request may carry.
const MAX_HEADERS: usize = 64;

async fn limit_headers(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers are too large",
        )
        .into_response();
    }
    next.run(req).await
}

async fn tag_route(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if let Some(path) = matched {
        res.extensions_mut()
            .insert(RouteTag(path.as_str().to_owned()));
    }
    res
}

async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Only the methods HTTP defines become label values: anything a client
    // invents would add series without bound.
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS
        | Method::CONNECT
        | Method::TRACE => req.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let res = next.run(req).await;
    let route = res
        .extensions()
        .get::<RouteTag>()
        .map_or_else(|| "unmatched".to_owned(), |t| t.0.clone());
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("latchkey_http_requests_total", &labels).increment(1);
    metrics::histogram!("latchkey_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

/// Headers every response gets, and the contract's JSON envelope for error
/// responses made by the framework or a middleware (plain text otherwise).
async fn hygiene(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut res = if (status.is_client_error() || status.is_server_error()) && !is_json {
        envelope(res)
    } else {
        res
    };
    let headers = res.headers_mut();
    // Responses here carry credentials, CSRF tokens or per-user data: no
    // cache anywhere may keep them. Only a route that knows better (the
    // public key set) sets its own.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // JSON needs no capability a policy could grant, and no response may
    // be framed (clickjacking). A route that serves HTML sets its own,
    // still with `frame-ancestors 'none'`.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The content security policy of every response that does not set its
/// own: nothing may load, nothing may frame it.
const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

fn envelope(res: Response) -> Response {
    let (mut parts, _body) = res.into_parts();
    let status = parts.status;
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this path",
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large",
        StatusCode::SERVICE_UNAVAILABLE => "request took too long, retry shortly",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let fresh = ApiError::new(status, ApiError::code_for_status(status), message).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &fresh_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(header::RETRY_AFTER)
    {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    Response::from_parts(parts, body)
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    // The payload may hold request data; it is deliberately not logged.
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::{body::to_bytes, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// Request ids are distinct UUIDs, of the version that says "own
    /// format", from one process and between processes.
    #[test]
    fn request_ids_are_distinct_uuids() {
        let request = axum::http::Request::new(());
        let mut ids = std::collections::HashSet::new();
        for mut maker in [RequestIds::new(), RequestIds::new()] {
            for _ in 0..1000 {
                let id = maker.make_request_id(&request).unwrap();
                let text = id.header_value().to_str().unwrap().to_owned();
                let uuid = Uuid::parse_str(&text).unwrap();
                assert_eq!(uuid.get_version_num(), 8, "{text}");
                assert!(ids.insert(text));
            }
        }
    }

    /// A panic in a handler is a bug; the client gets the contract's 500
    /// and nothing of what the panic said.
    #[tokio::test]
    async fn a_panicking_handler_is_a_bare_500() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("secret-in-the-panic-message");
                    }
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::map_response(hygiene));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(
            body,
            r#"{"error":"internal_error","message":"internal error"}"#
        );
    }
}
