//! `latchkey config check`.

use std::io::Write;

use crate::{cli::ServeArgs, config::Config};

/// Validates like `serve` would and prints the effective settings, with
/// every secret redacted. A reader that stops early (`| head`) is not an
/// error.
pub(crate) fn check(args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "# configuration is valid; effective settings:")
        .and_then(|()| writeln!(out, "{config}"))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
