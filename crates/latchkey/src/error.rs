//! The library's error: what an embedding app can do about a failure
//! depends only on whether its configuration is wrong or its environment
//! (database, Redis) is.

/// Why latchkey could not be configured or started. The message names the
/// setting or the resource, never a secret (URLs are shown redacted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing, unreadable or invalid.
    #[error("{0}")]
    Config(String),
    /// The database, Redis or the signing key could not be prepared.
    #[error("{0}")]
    Start(String),
}

impl Error {
    pub(crate) fn config(e: anyhow::Error) -> Self {
        Self::Config(one_line(&e))
    }

    pub(crate) fn start(e: anyhow::Error) -> Self {
        Self::Start(one_line(&e))
    }
}

/// An error and its causes, joined on one line.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
