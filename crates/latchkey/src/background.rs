//! The work a latchkey instance does besides answering requests: deleting
//! expired sessions, picking up revocations and signing keys made
//! elsewhere, following the revocation feed. The tasks stop when the
//! instance (every router made from it) is dropped.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use latchkey_core::service::AuthService;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::task::JoinHandle;

/// How often expired sessions are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How often the store is asked for revocations made elsewhere (the CLI,
/// other nodes): the most a cached record or a JWT of a session revoked
/// there outlives it when no feed carries it.
const REVOCATION_POLL: Duration = Duration::from_millis(250);

/// How often the metrics recorder drains its histograms' samples.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Running tasks, aborted on drop.
#[derive(Default)]
pub(crate) struct BackgroundTasks(Vec<JoinHandle<()>>);

impl BackgroundTasks {
    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

pub(crate) async fn sweep_expired(auth: AuthService) {
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

pub(crate) async fn follow_revocations(auth: AuthService) {
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
pub(crate) async fn follow_keys(auth: AuthService, period: Duration) {
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        if let Err(e) = auth.reload_keys().await {
            tracing::warn!(error = %e, "signing key reload failed");
        }
    }
}

/// Runs the metrics recorder's upkeep, once there is a recorder: it drains
/// the samples histograms keep between scrapes, which would otherwise
/// pile up (one per request) on a server nobody scrapes.
pub(crate) async fn metrics_upkeep(recorder: Arc<OnceLock<PrometheusHandle>>) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    loop {
        every.tick().await;
        if let Some(handle) = recorder.get() {
            handle.run_upkeep();
        }
    }
}
