//! One module per command.

mod config;
mod keys;
mod serve;
mod users;

use crate::{
    cli::{Cli, Command, ConfigCommand},
    config::database_url,
    telemetry,
};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&args).await,
        Command::Migrate(store) => {
            telemetry::init(crate::config::LogFormat::Pretty, "warn");
            let url = database_url(&store)?;
            crate::wiring::open_store(&url, 1).await?;
            println!("database {} is up to date", crate::config::redact_url(&url));
            Ok(())
        }
        Command::Users(cmd) => users::run(cmd).await,
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Config(ConfigCommand::Check(args)) => config::check(&args),
    }
}
