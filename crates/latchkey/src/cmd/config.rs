//! `latchkey config check`.

use crate::{cli::ServeArgs, config::Settings};

/// Validates like `serve` would and prints the effective settings, with any
/// password in the database URL hidden.
pub(crate) fn check(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args)?;
    println!("# configuration is valid; effective settings:");
    println!("{settings}");
    Ok(())
}
