//! Authenticated requests to the app's own endpoints.

use std::{fmt, sync::Arc, time::Duration};

use reqwest::{
    Body, Response,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde::Serialize;

use crate::{
    Error,
    auth::{Auth, Target},
};

/// A request to one of the app's endpoints, sent with the session's bearer
/// token by [`send`](RequestBuilder::send). Made by
/// [`Client::request`](crate::Client::request) and its shorthands.
///
/// ```no_run
/// # async fn run(client: latchkey_client::Client) -> Result<(), latchkey_client::Error> {
/// let res = client
///     .post("/api/orders")
///     .header("idempotency-key", "7f3a")
///     .json(&serde_json::json!({ "item": 42 }))
///     .send()
///     .await?;
/// println!("{}", res.status());
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    auth: Arc<Auth>,
    inner: Result<reqwest::RequestBuilder, Error>,
}

impl RequestBuilder {
    pub(crate) fn new(auth: Arc<Auth>, inner: Result<reqwest::RequestBuilder, Error>) -> Self {
        Self { auth, inner }
    }

    fn map(mut self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.inner = self.inner.map(f);
        self
    }

    /// Adds a header.
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|b| b.header(key, value))
    }

    /// Adds several headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|b| b.headers(headers))
    }

    /// Sends `json` as the body, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, json: &T) -> Self {
        self.map(|b| b.json(json))
    }

    /// Sets the body. A body made from a stream cannot be replayed, so such a
    /// request is not retried after a refresh (see [`send`](Self::send)).
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.map(|b| b.body(body))
    }

    /// Limits this request's time, overriding the client's timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// Anything else `reqwest` can do to a request (forms, multipart,
    /// a query from a struct, with those `reqwest` features enabled).
    ///
    /// ```no_run
    /// # async fn run(client: latchkey_client::Client) -> Result<(), latchkey_client::Error> {
    /// let res = client
    ///     .get("/api/orders")
    ///     .with(|b| b.version(latchkey_client::reqwest::Version::HTTP_11))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.map(f)
    }

    /// Sends the request with the bearer token.
    ///
    /// - In `access-refresh`, a token within the refresh margin of its
    ///   expiry is refreshed first, and a `401` that refuses the token is
    ///   answered by one refresh and one retry (not for a streamed body:
    ///   then the `401` response is returned, and sending again works).
    ///   However many requests need a refresh at once, one is made.
    /// - In `auto-refresh`, a renewed token in `X-Refreshed-Token` replaces
    ///   the stored one.
    /// - A `401` that still refuses the token (latchkey's, or any with a
    ///   `WWW-Authenticate: Bearer` challenge) is [`Error::SignedOut`] and
    ///   clears the store. Every other response, whatever its status, is
    ///   returned as it is.
    pub async fn send(self) -> Result<Response, Error> {
        let (http, req) = self.inner?.build_split();
        let req = req?;
        self.auth.base.check(req.url())?;
        self.auth.send(&http, req, Target::App).await
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The request may already hold a secret header: show nothing of it.
        f.debug_struct("RequestBuilder").finish_non_exhaustive()
    }
}
