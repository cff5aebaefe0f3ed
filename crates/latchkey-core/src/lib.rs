//! latchkey's domain, free of HTTP and SQL.
//!
//! # Layout
//! - [`clock`]: the time source, replaceable in tests so expiry can be driven.
//! - [`duration`]: the human duration strings of the contract (`30s`, `5m`, `30d`).
//! - [`secret`]: bearer secrets from the OS RNG and the SHA-256 the store keeps.
//! - [`ids`]: public identifiers of users and sessions.
//! - [`user`]: usernames and passwords, parsed at the edge.
//! - [`password`]: Argon2id hashing, bounded and off the async executor.
//! - [`ratelimit`]: login, registration and refresh rate limits.
//! - [`csrf`]: the per-session CSRF secret and its constant-time check.
//! - [`session`]: sessions, the client they belong to and why they end.
//! - [`device`]: user-agent labels and the client context a session is bound to.
//! - [`anomaly`]: what a session is bound to, and the policies for a mismatch.
//! - [`event`]: the per-user security log.
//! - [`strategy`]: the four ways a deployment keeps clients logged in.
//! - [`revocation`]: the deny-list of revoked sessions the JWT strategies check.
//! - [`feed`]: the trait through which nodes hear of each other's revocations.
//! - [`keys`]: the signing keys the JWT strategies use.
//! - [`token`]: JWT claims, signing and pinned-algorithm verification.
//! - [`store`]: the traits a storage backend implements.
//! - [`error`]: the domain's errors.
//! - [`service`]: [`AuthService`](service::AuthService), the use cases.
#![forbid(unsafe_code)]

pub mod anomaly;
pub mod clock;
pub mod csrf;
pub mod device;
pub mod duration;
pub mod error;
pub mod event;
pub mod feed;
pub mod ids;
pub mod keys;
pub mod password;
pub mod ratelimit;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod session;
pub mod store;
pub mod strategy;
pub mod token;
pub mod user;

pub use error::{AuthError, StoreError};
