//! [`Latchkey`]: a running latchkey inside an app's own process.

use std::{
    future::Future,
    io,
    sync::{Arc, OnceLock},
};

use anyhow::Context;
use axum::Router;
use latchkey_core::service::AuthService;
use latchkey_http::{AppState, HttpConfig, LatchkeyLayer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::{
    Error,
    background::{self, BackgroundTasks},
    config::Config,
    wiring,
};

/// latchkey, started: the store opened and migrated, a signing key ready,
/// the revocation feed followed, the background tasks running. Give its
/// [`routes`](Latchkey::routes) a place in the app's router and put its
/// [`layer`](Latchkey::layer) around the app's own routes, whose handlers
/// then take [`AuthUser`](crate::AuthUser).
///
/// Cheap to clone. The background tasks stop when the last clone and the
/// last router made from it are dropped.
///
/// # Example
/// A notes API whose `/notes` only a signed-in user may call, with
/// latchkey's own routes under `/id` (`/id/auth/login`, …):
/// ```
/// use axum::{Router, body::Body, http::{Request, StatusCode}, routing::get};
/// use latchkey::{AuthUser, Config, Latchkey};
/// use tower::ServiceExt;
///
/// async fn notes(user: AuthUser) -> String {
///     format!("the notes of {}", user.username)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let mut config = Config::from_toml(r#"base_path = "/id""#)?;
/// config.database = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
/// let latchkey = Latchkey::start(&config).await?;
///
/// let app: Router = Router::new()
///     .route("/notes", get(notes))
///     .layer(latchkey.layer())
///     .merge(latchkey.routes());
///
/// // Serve it with `axum::serve(listener,
/// // app.into_make_service_with_connect_info::<std::net::SocketAddr>())`;
/// // here, one request without a credential:
/// let response = app.oneshot(Request::get("/notes").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Latchkey {
    state: AppState,
    /// The recorder [`with_metrics`](Self::with_metrics) was given, for
    /// the background task that keeps it small.
    metrics: Arc<OnceLock<PrometheusHandle>>,
}

impl Latchkey {
    /// Opens and migrates the configured database, prepares the signing
    /// key, connects the revocation feed (PostgreSQL or Redis) and starts
    /// the background tasks on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Start`] when the database or Redis cannot be reached or
    /// migrated, or the signing key cannot be prepared.
    pub async fn start(config: &Config) -> Result<Self, Error> {
        Self::open(config).await.map_err(Error::start)
    }

    async fn open(config: &Config) -> anyhow::Result<Self> {
        let opened = wiring::open(&config.database, config.database_pool_size).await?;
        let fleet = wiring::fleet(config, opened.feed)?;
        let auth = wiring::auth_service(opened.store, config).await?;
        auth.set_rate_limits(config.rate_limits.clone(), fleet.limiter);
        let mut tasks = BackgroundTasks::default();
        if let Some(feed) = fleet.feed {
            auth.attach_feed(feed.clone());
            let service = auth.clone();
            tasks.spawn(async move { feed.run(service).await });
        }
        auth.align_signing_algorithm()
            .await
            .context("cannot prepare the signing key")?;
        tasks.spawn(background::sweep_expired(auth.clone()));
        tasks.spawn(background::follow_revocations(auth.clone()));
        tasks.spawn(background::follow_keys(
            auth.clone(),
            config.key_poll_interval.as_std(),
        ));
        let metrics = Arc::new(OnceLock::new());
        tasks.spawn(background::metrics_upkeep(metrics.clone()));
        let mut http = HttpConfig::default()
            .with_base_path(&config.base_path)
            .map_err(anyhow::Error::msg)?;
        http.cookie_secure = config.cookie_secure;
        http.trusted_proxies.clone_from(&config.trusted_proxies);
        http.forwarded_header = config.forwarded_header;
        http.request_timeout = config.request_timeout.as_std();
        http.body_limit = config.body_limit;
        http.header_read_timeout = config.header_read_timeout.as_std();
        let state = AppState::new(auth, http, None).keep_alive(Arc::new(tasks));
        Ok(Self { state, metrics })
    }

    /// Serves `/metrics` from `handle`. latchkey records its metrics with
    /// the `metrics` crate; the app installs the recorder (once per
    /// process), ideally before [`Latchkey::start`].
    ///
    /// latchkey also runs the recorder's upkeep every few seconds while it
    /// runs: a recorder made with `install_recorder` leaves that to its
    /// owner, and without it every histogram sample (one per request) is
    /// kept until `/metrics` is next scraped, so an unscraped server's
    /// memory grows without end. Upkeep run twice (by an exporter that
    /// runs its own too) is harmless.
    #[must_use]
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        // The first recorder wins: a process has only one.
        let _ = self.metrics.set(handle.clone());
        self.state.metrics = Some(handle);
        self
    }

    /// latchkey's routes under the configured `base_path`, with their own
    /// middleware (limits, timeouts, request ids, hygiene headers), ready
    /// to [`merge`](Router::merge) into the app's router. They have no
    /// fallback: the app's stays in charge of other paths.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        latchkey_http::routes(self.state.clone())
    }

    /// The layer that lets the app's own routes take
    /// [`AuthUser`](crate::AuthUser): it carries latchkey to them, and
    /// writes an `auto-refresh` renewal onto their responses (a new cookie,
    /// or `X-Refreshed-Token` for apps). Add it with
    /// [`Router::layer`] after the routes it protects.
    pub fn layer(&self) -> LatchkeyLayer {
        LatchkeyLayer::new(self.state.clone())
    }

    /// The use cases themselves, for what an app does outside a request:
    /// creating users, revoking a user's sessions from an admin job.
    pub fn service(&self) -> &AuthService {
        &self.state.auth
    }

    /// Serves latchkey alone on `listener` (what `latchkey serve` does)
    /// until `shutdown` completes, then lets in-flight requests finish.
    ///
    /// # Errors
    /// The listener failed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        latchkey_http::serve(listener, self.state, shutdown).await
    }
}
