//! The web console: server-rendered pages (askama) with htmx for live
//! counters, on its own listener (`HUB_CONSOLE_ADDR`), together with
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! Security: operators log in with their name and token and get a session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when configured); every
//! state-changing request is a POST carrying the session's CSRF token (the
//! login form a double-submit token); personal data never goes into a URL
//! (a search by BSN is a POST); pages are `no-store`, framing is refused and
//! scripts come only from the console itself (htmx is vendored).

mod error;
mod pages;
mod plog;
mod session;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hub_core::config::ConsoleConfig;
use hub_core::shutdown::Shutdown;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::ops::Ops;
pub(crate) use session::Sessions;

/// htmx 2 (dist/htmx.min.js of the npm package `htmx.org`), vendored: no
/// CDN, so the console works offline and its CSP allows only itself.
const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &str = include_str!("../../assets/console.css");

/// A listener bound before the operator starts, so that whoever bound it
/// (a test, on `127.0.0.1:0`) knows the address up front.
#[derive(Clone, Debug, Default)]
pub struct PreboundListener(Arc<Mutex<Option<std::net::TcpListener>>>);

impl PreboundListener {
    /// Wraps a bound listener.
    #[must_use]
    pub fn new(listener: std::net::TcpListener) -> Self {
        Self(Arc::new(Mutex::new(Some(listener))))
    }

    fn take(&self) -> Option<std::net::TcpListener> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Where and how the console is served.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// Address to bind when no listener is given.
    pub addr: SocketAddr,
    /// A listener to use instead of binding `addr` (taken once).
    pub listener: Option<PreboundListener>,
    /// Mark the session cookie `Secure` (console behind HTTPS).
    pub secure_cookie: bool,
    /// How long a session lasts.
    pub session_ttl: Duration,
}

impl ConsoleSettings {
    /// Settings from the command line and environment.
    #[must_use]
    pub fn from_config(config: &ConsoleConfig) -> Self {
        Self {
            addr: config.addr,
            listener: None,
            secure_cookie: config.secure_cookie,
            session_ttl: Duration::from_secs(config.session_minutes.max(1) * 60),
        }
    }

    /// Settings that serve on an already bound listener.
    #[must_use]
    pub fn prebound(listener: std::net::TcpListener) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        Self {
            addr,
            listener: Some(PreboundListener::new(listener)),
            ..Self::from_config(&ConsoleConfig::default())
        }
    }

    /// The listener to serve on.
    pub(crate) async fn bind(&self) -> std::io::Result<TcpListener> {
        match self.listener.as_ref().and_then(PreboundListener::take) {
            Some(listener) => {
                listener.set_nonblocking(true)?;
                TcpListener::from_std(listener)
            }
            None => TcpListener::bind(self.addr).await,
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) ops: Arc<Ops>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) metrics: Option<PrometheusHandle>,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/overview", get(pages::overview))
        .route("/overview/live", get(pages::overview_live))
        .route("/dead-letters", get(pages::groups))
        .route("/dead-letters/group", get(pages::group))
        .route("/dead-letters/retry", post(pages::retry))
        .route("/dead-letters/discard", post(pages::discard))
        .route("/dead-letters/{id}", get(pages::message))
        .route("/dead-letters/{id}/reveal", post(pages::reveal))
        .route("/jobs/{id}", get(pages::job))
        .route("/jobs/{id}/progress", get(pages::job_progress))
        .route("/processing-log", get(plog::form).post(plog::search))
        .route("/processing-log/export.csv", post(plog::export))
        .route("/catalog", get(pages::catalog))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/console.css", get(css))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves the console until `shutdown`; in-flight requests finish first.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
) -> Result<(), std::io::Error> {
    let addr = listener.local_addr()?;
    let health = state.ops.health().clone();
    health.set("console", true, format!("serving on {addr}"));
    tracing::info!(addr = %addr, "console listening");
    // Histograms need upkeep now and then; so do expired sessions.
    let upkeep = {
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                if let Some(handle) = &state.metrics {
                    handle.run_upkeep();
                }
                state.sessions.remove_expired().await;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(10)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        })
    };
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    let _ = upkeep.await;
    health.set("console", false, "stopped");
    result
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set =
        |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
            headers
                .entry(name)
                .or_insert_with(|| HeaderValue::from_static(value));
        };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    // Pages may hold revealed values or search results: never cache them.
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

async fn htmx() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        HTMX,
    )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        CSS,
    )
}

/// Prometheus text format. No personal data: labels are types, queues,
/// recipients and reasons.
async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::render(state.metrics.as_ref())
}

/// Alive: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: every component of the process is.
async fn readyz(State(state): State<AppState>) -> Response {
    let components = state.ops.health().snapshot();
    let waiting: Vec<String> = components
        .iter()
        .filter(|(_, s)| !s.ready)
        .map(|(name, s)| format!("{name}: {}", s.detail))
        .collect();
    if !components.is_empty() && waiting.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", waiting.join("\n")),
        )
            .into_response()
    }
}
