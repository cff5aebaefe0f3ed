//! SQL backends for latchkey's [`Store`](latchkey_core::store::Store).
//!
//! # Layout
//! - [`sqlite`]: the embedded default, [`SqliteStore`].
//! - [`postgres`]: for several nodes, [`PgStore`].
//! - [`pg_feed`]: [`PgFeed`], revocations between nodes by `LISTEN/NOTIFY`.
//! - `shared`: the SQL both dialects share, and the macro that implements
//!   the store traits with it for each backend.
//! - `rows`: rows as the database returns them, and their conversion to
//!   domain values (shared by every dialect, since instants are stored as
//!   integer milliseconds everywhere).
//! - `error`: sqlx errors mapped onto [`StoreError`](latchkey_core::StoreError).
//!
//! A backend is a module with its own connection setup and
//! `migrations/<dialect>` folder; the statements are shared.
#![forbid(unsafe_code)]

mod error;
pub mod pg_feed;
pub mod postgres;
mod rows;
mod shared;
pub mod sqlite;

pub use pg_feed::PgFeed;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
