//! A Rust client for latchkey, the authentication and session server, for
//! native apps, command-line tools and services: it signs in as a `mobile`
//! client, keeps the tokens in a pluggable [`TokenStore`], sends them as
//! `Authorization: Bearer`, renews them the way the server's strategy
//! needs, and reports the end of a session as one error,
//! [`Error::SignedOut`].
//!
//! ```no_run
//! use latchkey_client::{Client, Error, FileStore};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let client = Client::builder("http://127.0.0.1:8080")
//!         .store(FileStore::new("session.json")) // stay signed in between runs
//!         .user_agent("mytool/1.0") // the device name in the session list
//!         .build()?;
//!     if !client.is_signed_in().await? {
//!         client.login("alice", "correct horse battery staple").await?;
//!     }
//!     println!("signed in as {}", client.me().await?.username);
//!
//!     // The app's own endpoints, with the same token handling.
//!     match client.get("/api/orders").send().await {
//!         Ok(res) => println!("{}", res.status()),
//!         Err(Error::SignedOut { reason }) => eprintln!("{reason}: please sign in again"),
//!         Err(e) => return Err(e),
//!     }
//!     client.logout().await
//! }
//! ```
//!
//! # What it does per strategy
//!
//! | strategy | login gives | the client |
//! |---|---|---|
//! | `session`, `stateful-jwt` | a token that lives as long as the session | sends it; a `401` is [`Error::SignedOut`] |
//! | `access-refresh` | a short access token and a refresh token | refreshes [`refresh_margin`](ClientBuilder::refresh_margin) before expiry, and once on a `401` (then retries the request once) |
//! | `auto-refresh` | a short token the server renews | keeps the renewed token from `X-Refreshed-Token` |
//!
//! A refresh token is spent when used, and presenting a spent one again
//! after the server's grace period revokes the session as a theft. So
//! refreshes are single-flight: however many requests of however many
//! clones find the token expired at once, one `POST /auth/refresh` is
//! made and the others wait for it and use its result.
//!
//! latchkey binds a session to the client that signed in (its user agent,
//! and by policy its network), and by default ends a session whose user
//! agent changes: keep one [`Client`] (or one `reqwest::Client` passed to
//! [`ClientBuilder::http_client`]) per signed-in device, and don't share
//! its tokens with another HTTP stack unless it sends the same user agent
//! ([`DEFAULT_USER_AGENT`] unless set).
//!
//! # Layout
//! - [`Client`] and [`ClientBuilder`]: configuration, the account calls
//!   (`register`, `login`, `logout`, `logout_all`, `me`, `sessions`,
//!   `revoke_session`, `change_password`, `events`) and the app's own
//!   requests ([`RequestBuilder`]).
//! - `auth`: the tokens in memory, their write-through to the store, the
//!   refresh and the retry; `base`: URLs, and where the token may go.
//! - [`TokenStore`], [`MemoryStore`], [`FileStore`]: where tokens are kept.
//! - [`Tokens`]: the secrets themselves, and when to renew them.
//! - [`Error`]: the one error type.
//! - The response types: [`Registered`], [`Me`], [`Session`],
//!   [`SecurityEvent`], [`EventPage`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod base;
mod client;
mod error;
mod request;
mod store;
mod tokens;
mod types;

pub use client::{Client, ClientBuilder, DEFAULT_REFRESH_MARGIN, DEFAULT_USER_AGENT};
pub use error::{Error, SignedOutReason};
pub use request::RequestBuilder;
/// The `reqwest` this crate is built on, for [`ClientBuilder::http_client`]
/// and [`Client::send`] (its version must match).
pub use reqwest;
pub use store::{FileStore, MemoryStore, StoreError, TokenStore};
pub use tokens::Tokens;
pub use types::{EventPage, Me, Registered, SecurityEvent, Session};
