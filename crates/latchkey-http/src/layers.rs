//! The middleware around every route, outermost first:
//! sensitive-header redaction → request id → tracing → metrics → response
//! hygiene (headers, error envelope) → panic catcher → header limits →
//! timeout → body limit.

use std::{any::Any, time::Instant};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{csrf::CSRF_HEADER, error::ApiError, renewal, state::AppState};

/// The route template that served a response, for metric labels: the
/// template, not the path, so `/auth/sessions/{id}` is one series.
#[derive(Clone)]
struct RouteTag(String);

pub(crate) fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let http = &state.http;
    let x_request_id = HeaderName::from_static("x-request-id");
    // `Router::layer` wraps what is already there: the last call is the
    // outermost layer.
    router
        .route_layer(middleware::from_fn(tag_route))
        .route_layer(middleware::from_fn(renewal::deliver))
        .layer(DefaultBodyLimit::max(http.body_limit))
        .layer(RequestBodyLimitLayer::new(http.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            http.request_timeout,
        ))
        .layer(middleware::from_fn(limit_headers))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::map_response(hygiene))
        .layer(middleware::from_fn(track_metrics))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::SET_COOKIE,
            HeaderName::from_static(CSRF_HEADER),
        ]))
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
