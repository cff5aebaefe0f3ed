//! SQL backends for latchkey's [`Store`](latchkey_core::store::Store).
//!
//! # Layout
//! - [`sqlite`]: the embedded default, [`SqliteStore`].
//! - `rows`: rows as the database returns them, and their conversion to
//!   domain values (shared by every dialect, since instants are stored as
//!   integer milliseconds everywhere).
//! - `error`: sqlx errors mapped onto [`StoreError`](latchkey_core::StoreError).
//!
//! A second backend is a new module with its own `migrations/<dialect>`
//! folder, not a change to this one.
#![forbid(unsafe_code)]

mod error;
mod rows;
pub mod sqlite;

pub use sqlite::SqliteStore;
