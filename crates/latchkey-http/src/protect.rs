//! Protecting an embedding app's own routes: [`LatchkeyLayer`] carries
//! latchkey's state to them and writes `auto-refresh` renewals onto their
//! responses, and [`AuthUser`] is the extractor their handlers take.
//!
//! The state travels in the request's extensions rather than in axum's
//! `State`, so that the app keeps whatever state type it already has.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts, Request},
    http::{StatusCode, request::Parts},
    response::Response,
};
use latchkey_core::{
    ids::{SessionId, UserId},
    session::ClientKind,
    user::Username,
};
use tower::{Layer, Service};

use crate::{
    error::ApiError,
    extract,
    renewal::{self, RenewalSlot},
    state::AppState,
    transport,
};

/// The caller of one of the app's own routes, authenticated by latchkey
/// exactly as its own routes are: the session cookie (with the CSRF checks
/// on unsafe methods) or a bearer token, revocation honoured at once, and
/// an expired `auto-refresh` token renewed on the way.
///
/// Rejects with the contract's JSON error: `401` without a live credential,
/// `403 csrf_failed` for a cookie request that fails the CSRF checks. The
/// route must be under [`LatchkeyLayer`]; without it every request is a
/// `500` and the mistake is logged.
///
/// `Option<AuthUser>` is `None` for a request with no credential at all
/// (a route open to everyone that greets the signed-in differently); a
/// credential that is presented but not valid is still refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthUser {
    /// Who is calling.
    pub user_id: UserId,
    /// Their username, as they registered it (normalized).
    pub username: Username,
    /// The session the request belongs to: what "sign out this device"
    /// revokes.
    pub session_id: SessionId,
    /// A browser (cookie) session or an app (bearer) one.
    pub client: ClientKind,
}

fn state_of(parts: &Parts) -> Result<AppState, ApiError> {
    parts.extensions.get::<AppState>().cloned().ok_or_else(|| {
        tracing::error!(
            path = %parts.uri.path(),
            "AuthUser used on a route without latchkey's layer (Router::layer(latchkey.layer()))"
        );
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let state = state_of(parts)?;
        let caller = extract::authenticate(parts, &state, extract::own_method)
            .await?
            .caller;
        Ok(Self {
            user_id: caller.user_id,
            username: caller.username,
            session_id: caller.session_id,
            client: caller.client,
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        state_of(parts)?;
        if !transport::presents_credential(&parts.headers) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The layer around an app's own routes that [`AuthUser`] needs. Made by
/// `latchkey::Latchkey::layer` (or [`LatchkeyLayer::new`]); cheap to clone.
#[derive(Clone)]
pub struct LatchkeyLayer {
    state: AppState,
}

impl LatchkeyLayer {
    /// A layer serving `state` to the routes it wraps.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<I> Layer<I> for LatchkeyLayer {
    type Service = LatchkeyService<I>;

    fn layer(&self, inner: I) -> Self::Service {
        LatchkeyService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service [`LatchkeyLayer`] wraps a route in.
#[derive(Clone)]
pub struct LatchkeyService<I> {
    inner: I,
    state: AppState,
}

impl<I> Service<Request> for LatchkeyService<I>
where
    I: Service<Request, Response = Response> + Send + 'static,
    I::Future: Send + 'static,
{
    type Response = Response;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let slot = RenewalSlot::default();
        req.extensions_mut().insert(self.state.clone());
        req.extensions_mut().insert(slot.clone());
        let response = self.inner.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            renewal::hand_over(&slot, &mut response);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// Forgetting the layer is a wiring bug: a clear 500 and a log line,
    /// never a request let through.
    #[tokio::test]
    async fn a_route_without_the_layer_lets_nobody_in() {
        async fn handler(user: AuthUser) -> String {
            user.username.to_string()
        }
        async fn optional(user: Option<AuthUser>) -> String {
            format!("{}", user.is_some())
        }
        let app: Router = Router::new()
            .route("/", get(handler))
            .route("/maybe", get(optional));
        for path in ["/", "/maybe"] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{path}"
            );
        }
    }
}
