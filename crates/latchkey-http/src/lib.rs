//! latchkey's HTTP edge, on axum.
//!
//! # Layout
//! - [`config`]: what the edge needs to know about its deployment (TLS
//!   detection, trusted proxies, limits).
//! - [`state`]: the state every handler shares.
//! - [`error`]: [`ApiError`](error::ApiError), the one place errors become
//!   the contract's `{"error", "message"}` JSON.
//! - `json`: a JSON body extractor whose rejections are [`ApiError`](error::ApiError)s.
//! - `client`: who is calling (address, TLS, user agent), believing
//!   forwarded headers only from trusted proxies.
//! - `transport`: the cookie and bearer transports of a credential.
//! - `csrf`: the origin and `X-CSRF-Token` checks for browser requests.
//! - `extract`: [`Authenticated`](extract::Authenticated), "the caller".
//! - `issue`: new credentials into cookies or a response body.
//! - `renewal`: hands an `auto-refresh` renewal to the client on the way out.
//! - `routes`: one module per resource.
//! - [`protect`](AuthUser): [`AuthUser`] and [`LatchkeyLayer`], for an app
//!   that embeds latchkey and protects its own routes with it.
//! - `layers`: limits, timeouts, request ids, tracing, metrics, headers.
#![forbid(unsafe_code)]

mod client;
pub mod config;
mod csrf;
pub mod error;
pub mod extract;
mod issue;
mod json;
mod layers;
mod protect;
mod renewal;
mod routes;
pub mod state;
mod transport;

use std::{future::Future, io, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use config::{CookieSecure, ForwardedHeader, HttpConfig};
pub use protect::{AuthUser, LatchkeyLayer, LatchkeyService};
pub use state::AppState;

/// Most header fields hyper itself reads before answering an empty `431`;
/// above latchkey's own limit, so that requests between the two get the
/// contract's JSON error from `layers`.
const HYPER_MAX_HEADERS: usize = 256;

/// The whole HTTP application, without a socket: latchkey's routes, and
/// the contract's `404` for every other path.
pub fn app(state: AppState) -> Router {
    let routes = routes::router(state.http.base_path()).fallback(routes::not_found);
    // The fallback goes in before the middleware, so a 404 gets the same
    // hygiene headers and request id as every other answer.
    layers::apply(routes, &state).with_state(state)
}

/// latchkey's routes (under the configured mount prefix) with their
/// middleware, for merging into an app's own router: no fallback, so the
/// app keeps its own.
pub fn routes<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    layers::apply(routes::router(state.http.base_path()), &state).with_state(state)
}

/// Serves `app(state)` on an already bound listener until `shutdown`
/// completes, then lets in-flight requests finish.
///
/// hyper drives each connection directly (rather than `axum::serve`) for
/// the one setting axum does not expose: a client must finish sending a
/// request's headers within `header_read_timeout`, or the connection is
/// closed. Without it a slow client ("slowloris") holds a connection and
/// its memory for as long as it likes; the body is covered by
/// `request_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let header_read_timeout = state.http.header_read_timeout;
    let app = app(state);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written whole; waiting to coalesce them only adds
        // latency.
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that went away or broke the protocol; hyper has
                // answered what could be answered.
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// An `accept` that failed: a connection reset before it was accepted is
/// the client's business; anything else (out of file descriptors, say) is
/// logged, and accepting pauses a moment instead of spinning.
async fn accept_failed(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
