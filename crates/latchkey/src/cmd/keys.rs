//! `latchkey keys …`.

use crate::{cli::KeysCommand, telemetry, wiring::admin_service};

pub(crate) async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    telemetry::init(crate::config::LogFormat::Pretty, "warn");
    match cmd {
        KeysCommand::List { store } => {
            let auth = admin_service(&store).await?;
            for (key, state) in auth.list_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.kid,
                    key.algorithm,
                    key.created_at,
                    state.as_str()
                );
            }
        }
        KeysCommand::Rotate { store } => {
            let auth = admin_service(&store).await?;
            let kid = auth.rotate_key().await?;
            println!("new signing key {kid}; older keys verify until their tokens expire");
        }
    }
    Ok(())
}
