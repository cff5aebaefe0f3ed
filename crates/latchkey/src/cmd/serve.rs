//! `latchkey serve`.

use std::io::Write;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::{Latchkey, cli::ServeArgs, config::Config, telemetry};

pub(crate) async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    telemetry::init(config.log_format, "info,sqlx=warn");
    // Before anything records a metric: handles taken earlier would be
    // no-ops for good.
    let metrics = metrics_recorder()?;
    let latchkey = Latchkey::start(&config).await?.with_metrics(metrics);
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, strategy = %config.strategy, "latchkey is serving");
    // The contract's readiness line, on stdout, before the first accept.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    latchkey
        .serve(listener, shutdown)
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
        // Buckets, not a summary: quantiles of one node cannot be combined
        // across a fleet.
        .set_buckets_for_metric(
            Matcher::Full("latchkey_revocation_feed_lag_seconds".into()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )
        .context("metrics setup failed")?
        .install_recorder()
        .context("metrics setup failed")
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
