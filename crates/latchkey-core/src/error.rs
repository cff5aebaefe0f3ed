//! The domain's errors. They say what happened; the HTTP layer alone decides
//! status codes and wording, and never shows the text of internal errors.

/// What a storage backend can report. Backends convert their own errors into
/// this with one `From` impl.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; retrying may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (a taken username, a duplicate id).
    #[error("conflicting record")]
    Conflict,
    /// A row could not be turned back into a domain value.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Anything else the backend reported.
    #[error("store error: {0}")]
    Backend(String),
}

/// Why a use case of [`AuthService`](crate::service::AuthService) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The input is malformed; the text says how, and is safe to show.
    #[error("{0}")]
    InvalidRequest(String),
    /// Wrong username or password: one error for both, so nobody learns
    /// which usernames exist.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// No usable credential: missing, malformed, unknown or expired.
    #[error("authentication required")]
    Unauthenticated,
    /// The credential's session was ended (logout, another device, an admin).
    #[error("session has been revoked")]
    SessionRevoked,
    /// An unsafe browser request lacks the session's CSRF token, or comes
    /// from another site.
    #[error("{0}")]
    CsrfFailed(String),
    /// Authenticated, but this is not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing among the caller's own.
    #[error("not found")]
    NotFound,
    /// The username is already registered.
    #[error("username is already taken")]
    UsernameTaken,
    /// Over a rate limit; retry after this long.
    #[error("too many requests, retry later")]
    RateLimited(std::time::Duration),
    /// Too many password hashes queued; the client should retry shortly.
    #[error("server is busy, retry shortly")]
    Busy,
    /// A dependency (the store) is down.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug or an environment failure; the text is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(other.to_string()),
        }
    }
}
