//! `latchkey keys …`.

use crate::{cli::KeysCommand, config::database_url, telemetry, wiring::open_store};

pub(crate) async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    telemetry::init(crate::config::LogFormat::Pretty, "warn");
    match cmd {
        KeysCommand::List { store } => {
            let store = open_store(&database_url(&store)?).await?;
            let keys = store.keys().await?;
            if keys.is_empty() {
                println!("no signing keys yet (the server makes one on first start)");
            }
            for key in keys {
                let state = if key.retired_at.is_some() {
                    "retired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    key.kid, key.algorithm, key.created_at
                );
            }
            Ok(())
        }
    }
}
