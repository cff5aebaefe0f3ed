//! The command line of the contract. Flags carry no clap defaults: a flag
//! that is absent must let the environment, then the config file, then the
//! built-in default decide (see `config`).

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

/// latchkey: authentication and sessions for web and mobile clients.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema.
    Migrate(StoreArgs),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Validate configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Where to find the configuration file and the database; every command
/// that touches the store takes these.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "LATCHKEY_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Database URL: sqlite://PATH?mode=rwc.
    #[arg(long, env = "LATCHKEY_DATABASE", value_name = "URL")]
    pub(crate) database: Option<String>,
}

#[derive(Debug, Args, Default)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LATCHKEY_BIND", value_name = "ADDR")]
    pub(crate) bind: Option<String>,
    /// Redis URL for the shared revocation feed and rate limits.
    #[arg(long, env = "LATCHKEY_REDIS", value_name = "URL")]
    pub(crate) redis: Option<String>,
    /// session, stateful-jwt, access-refresh or auto-refresh.
    #[arg(long, env = "LATCHKEY_STRATEGY")]
    pub(crate) strategy: Option<String>,
    /// Lifetime of access tokens (JWT strategies), e.g. 5m.
    #[arg(long, env = "LATCHKEY_ACCESS_TTL", value_name = "DUR")]
    pub(crate) access_ttl: Option<String>,
    /// Absolute lifetime of a session, e.g. 30d.
    #[arg(long, env = "LATCHKEY_SESSION_TTL", value_name = "DUR")]
    pub(crate) session_ttl: Option<String>,
    /// auto, always or never.
    #[arg(long, env = "LATCHKEY_COOKIE_SECURE", value_name = "MODE")]
    pub(crate) cookie_secure: Option<String>,
    /// Comma-separated CIDRs whose X-Forwarded-* headers are believed.
    #[arg(long, env = "LATCHKEY_TRUSTED_PROXIES", value_name = "CIDR,…")]
    pub(crate) trusted_proxies: Option<String>,
    /// Log lines to stderr as pretty or json.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
}

impl ServeArgs {
    /// The flags' environment variables alone, as clap would read them when
    /// no flag is given: how an embedding app, which has no command line of
    /// latchkey's, gets the same layering.
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(anyhow::anyhow!("{name} is not valid UTF-8"))
            }
        };
        Ok(Self {
            store: StoreArgs {
                config: None,
                database: var("LATCHKEY_DATABASE")?,
            },
            bind: var("LATCHKEY_BIND")?,
            redis: var("LATCHKEY_REDIS")?,
            strategy: var("LATCHKEY_STRATEGY")?,
            access_ttl: var("LATCHKEY_ACCESS_TTL")?,
            session_ttl: var("LATCHKEY_SESSION_TTL")?,
            cookie_secure: var("LATCHKEY_COOKIE_SECURE")?,
            trusted_proxies: var("LATCHKEY_TRUSTED_PROXIES")?,
            log_format: var("LATCHKEY_LOG_FORMAT")?,
        })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Create a user.
    Add {
        /// The new user's name.
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// End every session of a user, at once, on every running server.
    RevokeAll {
        /// Whose sessions to end.
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a user's live sessions.
    Sessions {
        /// Whose sessions to list.
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List signing keys and their state.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a new signing key; the old ones verify until their tokens expire.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration and print the effective settings.
    Check(ServeArgs),
}

/// What the binary runs: parse, run the command on a fresh runtime, and
/// report a failure as one line.
pub(crate) fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(crate::cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("latchkey: error: {}", crate::error::one_line(e));
    ExitCode::FAILURE
}

/// Parses the command line. Help and version go to stdout as usual; a
/// usage error becomes one line on stderr.
fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        if e.use_stderr() {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("latchkey: error: {first} (see latchkey --help)");
            ExitCode::from(2)
        } else {
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}
