//! Runs the notes API: `cargo run -p latchkey-example-notes`, with the
//! same configuration as `latchkey serve` (`LATCHKEY_CONFIG=FILE`,
//! `LATCHKEY_*` variables), `base_path` forced to `/id`, and the address
//! from `NOTES_BIND` (default `127.0.0.1:3000`).
#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf};

use latchkey::{Config, Latchkey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::var_os("LATCHKEY_CONFIG").map(PathBuf::from);
    let mut config = Config::load(file.as_deref())?;
    config.base_path = "/id".to_owned();
    let latchkey = Latchkey::start(&config).await?;
    let app = latchkey_example_notes::app(&latchkey);
    let bind = std::env::var("NOTES_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("notes on http://{}", listener.local_addr()?);
    // The peer address is what latchkey rate-limits and logs by.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
