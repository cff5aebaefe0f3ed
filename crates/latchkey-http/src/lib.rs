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
mod renewal;
mod routes;
pub mod state;
mod transport;

use std::{future::Future, net::SocketAddr};

use axum::Router;
use tokio::net::TcpListener;

pub use config::{CookieSecure, ForwardedHeader, HttpConfig};
pub use state::AppState;

/// The whole HTTP application, without a socket.
pub fn app(state: AppState) -> Router {
    layers::apply(routes::router(), &state).with_state(state)
}

/// Serves `app(state)` on an already bound listener until `shutdown`
/// completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
