//! `latchkey users …`: operator actions on accounts.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use latchkey_core::{AuthError, device::device_label};

use crate::{cli::UsersCommand, telemetry, wiring::admin_service};

pub(crate) async fn run(cmd: UsersCommand) -> anyhow::Result<()> {
    telemetry::init(crate::config::LogFormat::Pretty, "warn");
    match cmd {
        UsersCommand::Add {
            username,
            password_stdin,
            store,
        } => {
            let password = read_password(password_stdin)?;
            let auth = admin_service(&store).await?;
            let user = auth.register(&username, &password).await.map_err(explain)?;
            println!("created user {} ({})", user.username, user.id);
        }
        UsersCommand::RevokeAll { username, store } => {
            let auth = admin_service(&store).await?;
            let n = auth
                .admin_revoke_all(&username)
                .await
                .map_err(|e| named(e, &username))?;
            println!("revoked {n} session(s) of {}", username.trim());
        }
        UsersCommand::Sessions { username, store } => {
            let auth = admin_service(&store).await?;
            let (user, sessions) = auth
                .admin_sessions(&username)
                .await
                .map_err(|e| named(e, &username))?;
            println!(
                "{} session(s) of {} ({})",
                sessions.len(),
                user.username,
                user.id
            );
            // One tab-separated line per session: where it was last seen,
            // then where it signed in.
            for s in sessions {
                let ip =
                    |ip: Option<std::net::IpAddr>| ip.map_or("-".to_owned(), |ip| ip.to_string());
                let agent = s.last_user_agent.as_deref().or(s.user_agent.as_deref());
                println!(
                    "{}\t{}\t{}\tlast seen {} from {}\tsigned in {} from {}\t{}",
                    s.id,
                    s.client.as_str(),
                    device_label(agent),
                    s.last_seen_at,
                    ip(s.last_ip.or(s.ip)),
                    s.created_at,
                    ip(s.ip),
                    // A tab in an agent would shift the columns.
                    agent.unwrap_or("-").replace(['\t', '\n', '\r'], " "),
                );
            }
        }
    }
    Ok(())
}

/// The password from stdin (one trailing newline dropped), or typed at a
/// terminal without echo, twice.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on; pass --password-stdin");
    }
    let first = rpassword::prompt_password("password: ").context("cannot read the password")?;
    let again = rpassword::prompt_password("again: ").context("cannot read the password")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(first)
}

fn explain(e: AuthError) -> anyhow::Error {
    match e {
        AuthError::UsernameTaken => anyhow::anyhow!("that username is already taken"),
        other => anyhow::anyhow!("{other}"),
    }
}

fn named(e: AuthError, username: &str) -> anyhow::Error {
    match e {
        AuthError::NotFound => anyhow::anyhow!("no user named {:?}", username.trim()),
        other => anyhow::anyhow!("{other}"),
    }
}
