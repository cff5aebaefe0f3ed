//! The state shared by every handler.

use std::sync::Arc;

use latchkey_core::service::AuthService;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{config::HttpConfig, routes::me::Answers};

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub auth: AuthService,
    /// The edge's settings.
    pub http: Arc<HttpConfig>,
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// `/auth/me`'s and forward-auth's answers, by session.
    pub(crate) answers: Arc<Answers>,
    /// Whatever must live as long as something serves this state (the
    /// background tasks of an embedded latchkey, which stop when it is
    /// dropped): every router made from the state holds a clone.
    keepalive: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl AppState {
    /// Bundles the parts.
    pub fn new(auth: AuthService, http: HttpConfig, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            auth,
            http: Arc::new(http),
            metrics,
            answers: Arc::new(Answers::new()),
            keepalive: None,
        }
    }

    /// Keeps `guard` alive for as long as this state (or any router made
    /// from it) is.
    pub fn keep_alive(mut self, guard: Arc<dyn std::any::Any + Send + Sync>) -> Self {
        self.keepalive = Some(guard);
        self
    }
}
