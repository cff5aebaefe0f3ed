//! Integration tests for the SQL stores.
//!
//! - [`conformance`]: what every [`Store`](latchkey_core::store::Store)
//!   backend must do, written once over `Arc<dyn Store>` and run against each
//!   backend through [`store_conformance_suite!`](conformance::store_conformance_suite).
//! - [`conformance_tokens`]: more of that contract, for session lookup by id,
//!   revocation feeds, refresh tokens, token generations and key rotation.
//! - [`conformance_events`]: last-seen client and the security log.
//! - [`sqlite`]: the SQLite backend on a temp-file database, and its run of the
//!   suite.
//! - [`postgres`]: the PostgreSQL backend on a fresh database per test (on
//!   `LATCHKEY_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`),
//!   and its run of the suite.
//! - [`reads`]: what each strategy reads from the store per request.
//! - [`service_clock`]: `AuthService` over SQLite, driven by a `ManualClock`
//!   so expiry and last-seen throttling are tested without sleeping.
//! - [`fixtures`]: users, sessions, refresh tokens and keys to feed the stores.

mod conformance;
mod conformance_events;
mod conformance_tokens;
mod fixtures;
mod postgres;
mod reads;
mod service_clock;
mod sqlite;
