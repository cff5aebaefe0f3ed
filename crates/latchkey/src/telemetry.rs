//! Logging to stderr (stdout is kept for the `listening on` line and for
//! command output). Level from `LATCHKEY_LOG` or `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

pub(crate) fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("LATCHKEY_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    // PostgreSQL's NOTICEs ("relation already exists, skipping" at every
    // migration) are not ours to report.
    let filter = match "sqlx::postgres::notice=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (never expected) is harmless: keep the first.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    std::panic::set_hook(Box::new(log_panic));
}

/// Panics go to the log like everything else, with where they happened but
/// not what they said: a panic message can quote the data being handled (a
/// token, a password), and the default hook would print it to stderr.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current();
    tracing::error!(
        %location,
        thread = thread.name().unwrap_or("unnamed"),
        "panicked (the message is not logged)"
    );
}
