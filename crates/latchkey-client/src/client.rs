//! The client: its configuration, the account calls of the contract, and
//! the entry points for the app's own requests.

use std::{fmt, sync::Arc, time::Duration};

use reqwest::{Method, Response, StatusCode, Url};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Error, MemoryStore, TokenStore,
    auth::{Auth, Target, read_tokens},
    base::Base,
    error::from_response,
    request::RequestBuilder,
    types::{Credentials, EventPage, Me, MobileLogin, PasswordChange, Registered, Session},
};

/// How long before its expiry an access token is refreshed by default.
/// Long enough to cover a slow network and the server's clock leeway, and
/// never more than half the token's lifetime (see
/// [`ClientBuilder::refresh_margin`]).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// The user agent of the built-in HTTP client. latchkey binds a session to
/// its client's user agent and by default ends the session when another
/// one presents its tokens: code that signs in with its own HTTP client
/// and hands the tokens to this one (or the reverse) must send the same.
pub const DEFAULT_USER_AGENT: &str = concat!("latchkey-client/", env!("CARGO_PKG_VERSION"));

/// A latchkey client signed in as a `mobile` client.
///
/// Cheap to clone: clones share the tokens, the store, the HTTP connection
/// pool and the single-flight refresh, so hand one to every task.
/// See the [crate documentation](crate) for a walkthrough.
///
/// ```
/// use latchkey_client::{Client, SignedOutReason};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), latchkey_client::Error> {
/// let client = Client::new("http://127.0.0.1:8080/id")?;
/// assert_eq!(client.base_url().as_str(), "http://127.0.0.1:8080/id/");
/// assert!(!client.is_signed_in().await?);
/// // Signed out, calls say so without going to the network.
/// let err = client.me().await.unwrap_err();
/// assert!(matches!(
///     err,
///     latchkey_client::Error::SignedOut { reason: SignedOutReason::NotSignedIn }
/// ));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    auth: Arc<Auth>,
}

impl Client {
    /// A client for the latchkey at `base_url` with the defaults: an
    /// in-memory store, a built-in HTTP client (30 s timeout, user agent
    /// [`DEFAULT_USER_AGENT`]) and a 30 s refresh margin.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        Self::builder(base_url).build()
    }

    /// Configures a client for the latchkey at `base_url`
    /// (`https://id.example.com`, or with the prefix it is mounted under,
    /// `https://example.com/id`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            http: None,
            user_agent: None,
            store: None,
            margin: DEFAULT_REFRESH_MARGIN,
            trusted: Vec::new(),
        }
    }

    /// latchkey's base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        self.auth.base.url()
    }

    /// Creates an account (`POST /auth/register`). It does not sign in:
    /// call [`login`](Self::login) next. A taken username is
    /// [`Error::Api`] with code `conflict`.
    pub async fn register(&self, username: &str, password: &str) -> Result<Registered, Error> {
        let res = self
            .auth
            .http
            .post(self.endpoint(&["auth", "register"]))
            .json(&Credentials { username, password })
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(from_response(res).await);
        }
        decode(res).await
    }

    /// Signs in as a `mobile` client and keeps the tokens in the store.
    ///
    /// A wrong username or password is [`Error::InvalidCredentials`].
    /// Signing in again replaces the stored tokens without ending the
    /// earlier session on the server; [`logout`](Self::logout) first to
    /// end it.
    pub async fn login(&self, username: &str, password: &str) -> Result<(), Error> {
        let res = self
            .auth
            .http
            .post(self.endpoint(&["auth", "login"]))
            .json(&MobileLogin {
                username,
                password,
                client: "mobile",
            })
            .send()
            .await?;
        match res.status() {
            s if s.is_success() => {
                let tokens = read_tokens(res).await?;
                self.auth.replace(Some(tokens)).await
            }
            StatusCode::UNAUTHORIZED => Err(Error::InvalidCredentials),
            _ => Err(from_response(res).await),
        }
    }

    /// Ends this session on the server and clears the store.
    ///
    /// A session that was already over, or no session at all, is not an
    /// error: either way the user is signed out afterwards. If the server
    /// cannot be reached the tokens are kept (the session is still live),
    /// so the call can be retried; [`forget`](Self::forget) drops them
    /// without asking the server.
    pub async fn logout(&self) -> Result<(), Error> {
        match self
            .call(Method::POST, &["auth", "logout"], None::<&()>)
            .await
        {
            Ok(_) => self.auth.replace(None).await,
            Err(Error::SignedOut { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Ends every session of the user ("sign out everywhere"), this one
    /// included, and clears the store. The other devices get
    /// [`Error::SignedOut`] on their next request.
    pub async fn logout_all(&self) -> Result<(), Error> {
        self.call(Method::POST, &["auth", "logout-all"], None::<&()>)
            .await?;
        self.auth.replace(None).await
    }

    /// Who is signed in (`GET /auth/me`).
    pub async fn me(&self) -> Result<Me, Error> {
        decode(self.call(Method::GET, &["auth", "me"], None::<&()>).await?).await
    }

    /// The user's live sessions, newest first (`GET /auth/sessions`).
    pub async fn sessions(&self) -> Result<Vec<Session>, Error> {
        decode(
            self.call(Method::GET, &["auth", "sessions"], None::<&()>)
                .await?,
        )
        .await
    }

    /// Ends one of the user's sessions, such as a lost phone's
    /// (`DELETE /auth/sessions/{id}`). An id that is not one of the
    /// user's live sessions is [`Error::Api`] with code `not_found`.
    /// Ending this client's own session signs it out at its next request.
    pub async fn revoke_session(&self, id: &str) -> Result<(), Error> {
        self.call(Method::DELETE, &["auth", "sessions", id], None::<&()>)
            .await
            .map(drop)
    }

    /// Changes the password (`POST /auth/password`). Every other session of
    /// the user ends; this one stays signed in. A wrong `current` password
    /// is [`Error::InvalidCredentials`]; a `new` one the server's rules
    /// refuse is [`Error::Api`] with code `invalid_request`.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), Error> {
        let body = PasswordChange {
            current_password: current,
            new_password: new,
        };
        match self
            .call(Method::POST, &["auth", "password"], Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::Api { status, .. }) if status == StatusCode::FORBIDDEN => {
                Err(Error::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// A page of the user's security log, newest first (`GET
    /// /auth/events`): up to `limit` events (1–100; the server's default
    /// of 20 if `None`), after `cursor`, the previous page's
    /// [`next_cursor`](EventPage::next_cursor).
    pub async fn events(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<EventPage, Error> {
        let mut url = self.endpoint(&["auth", "events"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
        }
        let req = self.auth.http.get(url).build()?;
        decode(self.latchkey(req).await?).await
    }

    /// Whether there are tokens (read from the store the first time).
    /// Says nothing about whether the server still accepts them: the next
    /// call finds out, and answers [`Error::SignedOut`] if not.
    pub async fn is_signed_in(&self) -> Result<bool, Error> {
        Ok(self.auth.current().await?.is_some())
    }

    /// The bearer token, refreshed first if it is about to expire, for
    /// requests this client does not send itself (a WebSocket handshake,
    /// a gRPC channel). It is a secret: keep it out of logs and URLs.
    pub async fn access_token(&self) -> Result<String, Error> {
        let held = self.auth.fresh().await?;
        Ok(held.access_token().to_owned())
    }

    /// Drops the tokens from memory and the store without telling the
    /// server: the session stays live until it expires. For when the
    /// server cannot be reached and the user wants to be signed out here
    /// anyway; [`logout`](Self::logout) is the normal way.
    pub async fn forget(&self) -> Result<(), Error> {
        self.auth.replace(None).await
    }

    /// A request to one of the app's own endpoints, sent with the bearer
    /// token (see [`RequestBuilder::send`]). `path_or_url` is a path below
    /// the base URL (`/api/orders`) or an absolute URL on latchkey's
    /// origin or one trusted with [`ClientBuilder::trust_origin`]; anything
    /// else fails at `send` with [`Error::InvalidUrl`].
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        let inner = self
            .auth
            .base
            .resolve(path_or_url)
            .map(|url| self.auth.http.request(method, url));
        RequestBuilder::new(Arc::clone(&self.auth), inner)
    }

    /// A `GET` request; see [`request`](Self::request).
    pub fn get(&self, path_or_url: &str) -> RequestBuilder {
        self.request(Method::GET, path_or_url)
    }

    /// A `POST` request; see [`request`](Self::request).
    pub fn post(&self, path_or_url: &str) -> RequestBuilder {
        self.request(Method::POST, path_or_url)
    }

    /// A `PUT` request; see [`request`](Self::request).
    pub fn put(&self, path_or_url: &str) -> RequestBuilder {
        self.request(Method::PUT, path_or_url)
    }

    /// A `PATCH` request; see [`request`](Self::request).
    pub fn patch(&self, path_or_url: &str) -> RequestBuilder {
        self.request(Method::PATCH, path_or_url)
    }

    /// A `DELETE` request; see [`request`](Self::request).
    pub fn delete(&self, path_or_url: &str) -> RequestBuilder {
        self.request(Method::DELETE, path_or_url)
    }

    /// Sends a request built with `reqwest` directly (through the
    /// `reqwest::Client` it was built with), with the same token handling
    /// as [`RequestBuilder::send`]. Its URL must be on latchkey's origin or
    /// a trusted one.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, Error> {
        let (http, req) = request.build_split();
        let req = req?;
        self.auth.base.check(req.url())?;
        self.auth.send(&http, req, Target::App).await
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        self.auth.base.endpoint(segments)
    }

    /// An authenticated call to one of latchkey's endpoints; anything but
    /// a 2xx is an error.
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<Response, Error> {
        let mut req = self.auth.http.request(method, self.endpoint(segments));
        if let Some(body) = body {
            req = req.json(body);
        }
        self.latchkey(req.build()?).await
    }

    async fn latchkey(&self, req: reqwest::Request) -> Result<Response, Error> {
        let res = self
            .auth
            .send(&self.auth.http, req, Target::Latchkey)
            .await?;
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(from_response(res).await)
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// Reads a JSON body. serde's messages can quote the body, so they are not
/// passed on.
async fn decode<T: DeserializeOwned>(res: Response) -> Result<T, Error> {
    let status = res.status();
    let body = res.bytes().await?;
    serde_json::from_slice(&body).map_err(|_| Error::UnexpectedResponse {
        status,
        what: "a body that does not match the contract",
    })
}

/// Settings for a [`Client`], from [`Client::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use latchkey_client::{Client, FileStore};
///
/// let client = Client::builder("https://example.com/id")
///     .store(FileStore::new("/home/me/.config/mytool/session.json"))
///     .user_agent("mytool/1.2")
///     .refresh_margin(Duration::from_secs(60))
///     .trust_origin("https://api.example.com")
///     .build()?;
/// # Ok::<(), latchkey_client::Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    base_url: String,
    http: Option<reqwest::Client>,
    user_agent: Option<String>,
    store: Option<Arc<dyn TokenStore>>,
    margin: Duration,
    trusted: Vec<String>,
}

impl ClientBuilder {
    /// Sends every request through `http` (for its proxy, TLS, timeout and
    /// user-agent settings). Don't enable its cookie store: a mobile client
    /// authenticates by its bearer token alone. Keep its user agent the
    /// same from login on: latchkey binds a session to its client and, by
    /// default, ends a session whose user agent changes.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The user agent of the built-in HTTP client, such as `mytool/1.2`:
    /// the device name the user sees in their session list. Not for use
    /// with [`http_client`](Self::http_client), which has its own.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Where the tokens are kept: [`MemoryStore`] by default,
    /// [`FileStore`](crate::FileStore) to stay signed in between runs, or
    /// your own [`TokenStore`].
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How long before its expiry an access token is refreshed (in
    /// `access-refresh`; the other strategies have nothing to refresh).
    /// [`DEFAULT_REFRESH_MARGIN`] by default; never more than half the
    /// token's lifetime, so short-lived tokens are not refreshed on every
    /// request. `Duration::ZERO` refreshes only tokens that have expired.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Also sends the bearer token to `origin` (`https://api.example.com`),
    /// for app endpoints on another host that accept latchkey's tokens.
    /// Without this, the token only goes to latchkey's own origin.
    pub fn trust_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted.push(origin.into());
        self
    }

    /// The client. Fails on an unusable base URL or trusted origin, or on
    /// both a custom HTTP client and a user agent.
    pub fn build(self) -> Result<Client, Error> {
        let mut base = Base::parse(&self.base_url)?;
        for origin in &self.trusted {
            base.trust(origin)?;
        }
        let http = match (self.http, self.user_agent) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "set the user agent on the custom reqwest::Client".into(),
                ));
            }
            (Some(http), None) => http,
            (None, agent) => reqwest::Client::builder()
                .user_agent(agent.unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()))
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        Ok(Client {
            auth: Arc::new(Auth::new(http, base, store, self.margin)),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("custom_http_client", &self.http.is_some())
            .field("user_agent", &self.user_agent)
            .field("refresh_margin", &self.margin)
            .field("trusted_origins", &self.trusted)
            .finish_non_exhaustive()
    }
}
