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
    let store = wiring::open_store(&settings.database).await?;
    let auth =
        wiring::auth_service(store, settings.session_ttl.as_time(), settings.hash_limits).await?;
    if auth.ensure_signing_key().await? {
        tracing::info!("generated a new signing key");
    }
    let http = HttpConfig {
        cookie_secure: settings.cookie_secure,
        trusted_proxies: settings.trusted_proxies.clone(),
        request_timeout: settings.request_timeout.as_std(),
        body_limit: settings.body_limit,
    };
    let state = AppState::new(auth.clone(), http, Some(metrics_recorder()?));
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
    tokio::spawn(sweep_expired(auth));
    latchkey_http::serve(listener, state, shutdown_signal())
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

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
