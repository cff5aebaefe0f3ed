//! The one error type of the client: what went wrong, in the terms an app
//! acts on.

use std::{fmt, time::Duration};

use reqwest::{StatusCode, header::RETRY_AFTER};
use serde::Deserialize;

use crate::StoreError;

/// Everything a [`Client`](crate::Client) call can fail with.
///
/// The variant to handle in every app is [`Error::SignedOut`]: the session
/// is over and the user has to sign in again. No variant's text contains a
/// token or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is over: sign in again. The tokens have been removed
    /// from the store. Raised for a `401` from latchkey (or a `401` with a
    /// `Bearer` challenge from the app's own endpoints) that a refresh
    /// could not cure, a refused refresh token, or a call made while
    /// signed out.
    #[error("signed out ({reason}); sign in again")]
    SignedOut {
        /// Why the session ended.
        reason: SignedOutReason,
    },

    /// [`login`](crate::Client::login) or
    /// [`change_password`](crate::Client::change_password) was given a
    /// wrong username or password. Kept apart from [`Error::SignedOut`]:
    /// a typo is not the end of a session.
    #[error("wrong username or password")]
    InvalidCredentials,

    /// latchkey refused the request with one of the contract's errors
    /// (`400 invalid_request`, `404 not_found`, `409 conflict`,
    /// `429 rate_limited`, `503 unavailable`, …).
    #[error("latchkey answered {status}: {code}: {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The contract's stable code, such as `conflict` or `rate_limited`.
        code: String,
        /// The server's human-readable explanation.
        message: String,
        /// How long to wait before trying again (`Retry-After`), for `429`
        /// and `503`.
        retry_after: Option<Duration>,
    },

    /// The server's answer was not what the contract describes (a proxy's
    /// error page, say). The body is not quoted: it might hold a token.
    #[error("unexpected response from latchkey ({status}): {what}")]
    UnexpectedResponse {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong with it.
        what: &'static str,
    },

    /// The request could not be sent or its answer not read: the network,
    /// DNS, a timeout, or a request the HTTP library refused to build.
    /// Nothing is known about the session; the tokens are kept.
    #[error("HTTP request failed")]
    Transport(#[from] reqwest::Error),

    /// The [`TokenStore`](crate::TokenStore) failed to load, save or clear.
    #[error("token store failed")]
    Store(#[source] StoreError),

    /// A URL given to the client does not parse, or names an origin other
    /// than latchkey's and those trusted with
    /// [`ClientBuilder::trust_origin`](crate::ClientBuilder::trust_origin)
    /// (the bearer token is never sent anywhere else).
    #[error("{reason}: {url}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The Tokio runtime shut down before the call could finish.
    #[error("the async runtime shut down before the call finished")]
    Cancelled,

    /// The [`ClientBuilder`](crate::ClientBuilder) settings do not fit
    /// together.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// Why a session is over ([`Error::SignedOut`]). Calls made after the
/// server ended a session report the same reason until the next login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignedOutReason {
    /// There are no tokens: never signed in, signed out with
    /// [`logout`](crate::Client::logout) or
    /// [`forget`](crate::Client::forget), or an empty store.
    NotSignedIn,
    /// The session was ended (`session_revoked`): a logout, "sign out
    /// everywhere" or a password change on another device, an
    /// administrator, an anomaly policy, or theft detection after a refresh
    /// token was used twice.
    Revoked,
    /// The server no longer accepts the credential and it could not be
    /// renewed (`unauthenticated`): the session reached its end, or the
    /// token is not one this deployment issued.
    Unauthenticated,
}

impl fmt::Display for SignedOutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSignedIn => "not signed in",
            Self::Revoked => "the session was ended",
            Self::Unauthenticated => "the session's credentials are no longer accepted",
        })
    }
}

impl Error {
    /// Whether the user has to sign in again.
    pub fn is_signed_out(&self) -> bool {
        matches!(self, Self::SignedOut { .. })
    }

    /// The HTTP status of an error the server answered with.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedResponse { status, .. } => Some(*status),
            Self::Transport(e) => e.status(),
            _ => None,
        }
    }

    /// The contract's error code (`conflict`, `rate_limited`, …) of an
    /// [`Error::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn signed_out(reason: SignedOutReason) -> Self {
        Self::SignedOut { reason }
    }

    pub(crate) fn store(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The contract's error body.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) message: String,
}

/// Turns a refused request's answer into an [`Error`], reading its body.
pub(crate) async fn from_response(res: reqwest::Response) -> Error {
    let status = res.status();
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match res.bytes().await {
        Ok(body) => body,
        Err(e) => return Error::Transport(e),
    };
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(ErrorBody { error, message }) => Error::Api {
            status,
            code: error,
            message,
            retry_after,
        },
        Err(_) => Error::UnexpectedResponse {
            status,
            what: "not latchkey's JSON error body",
        },
    }
}

/// The reason a `401` gives for refusing a credential.
pub(crate) fn reason_of(body: &[u8]) -> SignedOutReason {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) if b.error == "session_revoked" => SignedOutReason::Revoked,
        _ => SignedOutReason::Unauthenticated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_body_names_the_reason() {
        let revoked = br#"{"error":"session_revoked","message":"session revoked"}"#;
        assert_eq!(reason_of(revoked), SignedOutReason::Revoked);
        let plain = br#"{"error":"unauthenticated","message":"x"}"#;
        assert_eq!(reason_of(plain), SignedOutReason::Unauthenticated);
        assert_eq!(reason_of(b"<html>"), SignedOutReason::Unauthenticated);
    }

    #[test]
    fn signed_out_says_what_to_do() {
        let e = Error::signed_out(SignedOutReason::Revoked);
        assert_eq!(
            e.to_string(),
            "signed out (the session was ended); sign in again"
        );
        assert!(e.is_signed_out());
        assert_eq!(e.status(), None);
    }

    #[test]
    fn api_errors_expose_status_code_and_retry_after() {
        let e = Error::Api {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited".into(),
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(e.status(), Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(e.code(), Some("rate_limited"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(!e.is_signed_out());
        assert_eq!(
            e.to_string(),
            "latchkey answered 429 Too Many Requests: rate_limited: slow down"
        );
    }
}
