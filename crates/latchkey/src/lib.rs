//! latchkey: authentication and sessions for web and mobile clients, as a
//! server (the `latchkey` binary) or inside an axum app.
//!
//! Embedding takes three steps: a [`Config`] (the same settings, file
//! format and environment variables as the binary), a started
//! [`Latchkey`], and its [`routes`](Latchkey::routes) and
//! [`layer`](Latchkey::layer) in the app's router. The app's handlers take
//! [`AuthUser`]; latchkey does the rest (cookies and CSRF for browsers,
//! bearer tokens for apps, revocation, `auto-refresh` renewals). See
//! [`Latchkey`] for a complete example and `examples/notes` in the
//! repository for an app with tests.
#![forbid(unsafe_code)]

mod background;
mod cli;
mod cmd;
pub mod config;
mod embed;
mod error;
mod telemetry;
mod wiring;

pub use config::{Config, LogFormat};
pub use embed::Latchkey;
pub use error::Error;
pub use latchkey_core::{
    ids::{SessionId, UserId},
    service::AuthService,
    session::ClientKind,
    strategy::Strategy,
    user::Username,
};
pub use latchkey_http::{AuthUser, LatchkeyLayer, error::ApiError};

/// The `latchkey` command line: parses the arguments, runs the command and
/// turns any failure into one line on stderr. All the binary's `main` does.
pub fn run_command_line() -> std::process::ExitCode {
    cli::main()
}
