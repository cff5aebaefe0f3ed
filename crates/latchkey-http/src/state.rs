//! The state shared by every handler.

use std::sync::Arc;

use latchkey_core::service::AuthService;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::HttpConfig;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub auth: AuthService,
    /// The edge's settings.
    pub http: Arc<HttpConfig>,
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// Bundles the parts.
    pub fn new(auth: AuthService, http: HttpConfig, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            auth,
            http: Arc::new(http),
            metrics,
        }
    }
}
