//! `latchkey serve`.

use std::io::Write;

use anyhow::Context;
use latchkey_core::service::AuthService;
use latchkey_http::{AppState, HttpConfig};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::{cli::ServeArgs, config::Settings, telemetry, wiring};

/// How often expired sessions are deleted.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

pub(crate) async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args)?;
    telemetry::init(settings.log_format, "info,sqlx=warn");
    let opened = wiring::open(&settings.database, settings.database_pool_size).await?;
    let fleet = wiring::fleet(&settings, opened.feed)?;
    let auth = wiring::auth_service(opened.store, &settings).await?;
    auth.set_rate_limits(settings.rate_limits.clone(), fleet.limiter);
    if let Some(feed) = fleet.feed {
        auth.attach_feed(feed.clone());
        let service = auth.clone();
        tokio::spawn(async move { feed.run(service).await });
    }
    auth.align_signing_algorithm()
        .await
        .context("cannot prepare the signing key")?;
    let http = HttpConfig {
        cookie_secure: settings.cookie_secure,
        trusted_proxies: settings.trusted_proxies.clone(),
        forwarded_header: settings.forwarded_header,
        request_timeout: settings.request_timeout.as_std(),
        body_limit: settings.body_limit,
        header_read_timeout: settings.header_read_timeout.as_std(),
    };
    let state = AppState::new(auth.clone(), http, Some(metrics_recorder()?));
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, strategy = %settings.strategy, "latchkey is serving");
    // The contract's readiness line, on stdout, before the first accept.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    tokio::spawn(sweep_expired(auth.clone()));
    tokio::spawn(follow_revocations(auth.clone()));
    tokio::spawn(follow_keys(auth, settings.key_poll_interval.as_std()));
    latchkey_http::serve(listener, state, shutdown)
        .await
        .context("server failed")?;
    tracing::info!("shut down");
    Ok(())
}

fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("latchkey_http_request_duration_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        )
        .context("metrics setup failed")?
        .install_recorder()
        .context("metrics setup failed")
}

async fn sweep_expired(auth: AuthService) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        match auth.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted expired sessions"),
            Err(e) => tracing::warn!(error = %e, "expired-session sweep failed"),
        }
    }
}

/// How often the store is asked for revocations made elsewhere (the CLI,
/// other nodes): the most a cached record or a JWT of a session revoked
/// there outlives it when no feed carries it.
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_millis(250);

async fn follow_revocations(auth: AuthService) {
    let mut every = tokio::time::interval(REVOCATION_POLL);
    for tick in 0u64.. {
        every.tick().await;
        if let Err(e) = auth.sync_revocations().await {
            tracing::warn!(error = %e, "revocation poll failed");
        }
        // Every ~10 s, forget revocations whose tokens have all expired.
        if tick % 40 == 0 {
            auth.prune_revocations();
        }
    }
}

/// Re-reads the signing keys every `period`, to pick up `keys rotate`.
async fn follow_keys(auth: AuthService, period: std::time::Duration) {
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        if let Err(e) = auth.reload_keys().await {
            tracing::warn!(error = %e, "signing key reload failed");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests can finish. The
/// handlers are installed here, before the server announces itself, so a
/// signal sent right after the `listening on` line is never lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
