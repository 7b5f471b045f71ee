//! The Prometheus recorder, installed once per process: every service of
//! the process emits through the `metrics` facade, and the console serves
//! what they emitted on `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub_core::shutdown::Shutdown;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Delivery latency buckets, in seconds: from sub-millisecond routing to a
/// copy that waited a minute.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0,
];

/// What each metric of the hub means (`# HELP`).
const DESCRIPTIONS: [(&str, &str); 12] = [
    (
        "hub_messages_routed_total",
        "copies delivered by the router, per message type and recipient",
    ),
    (
        "hub_messages_rejected_total",
        "messages the router rejected, per message type and reason",
    ),
    (
        "hub_fields_removed_total",
        "fields the minimiser removed, per message type and recipient",
    ),
    ("hub_retries_total", "transient failures retried, per queue"),
    (
        "hub_dead_letters_total",
        "messages dead-lettered by the hub, per queue and reason",
    ),
    (
        "hub_duplicates_total",
        "redelivered messages recognised and not applied again, per queue",
    ),
    (
        "hub_gateway_accepted_total",
        "gRPC submissions the broker confirmed, per message type",
    ),
    (
        "hub_gateway_rejected_total",
        "gRPC submissions refused, per message type and reason",
    ),
    (
        "hub_dead_letters_kept_total",
        "dead letters stored for operators, per dead-letter queue",
    ),
    (
        "hub_dossier_applied_total",
        "onboarding messages filed in the dossier",
    ),
    (
        "hub_feed_messages_sent_total",
        "messages streamed to processors over gRPC",
    ),
    (
        "hub_delivery_latency_seconds",
        "time from ingress to the confirmed copy, per recipient",
    ),
];

/// The process's recorder; installs it on first use. `None` when another
/// recorder was installed first (then `/metrics` says so).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("hub_delivery_latency_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    for (name, help) in DESCRIPTIONS {
                        if name.ends_with("_seconds") {
                            metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
                        } else {
                            metrics::describe_counter!(name, help);
                        }
                    }
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(error = %error, "prometheus recorder not installed; /metrics stays empty");
                    None
                }
            }
        })
        .clone()
}

/// The Prometheus text of `handle`, or 503 when another recorder was
/// installed in this process.
pub(crate) fn render(handle: Option<&PrometheusHandle>) -> Response {
    match handle {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process\n",
        )
            .into_response(),
    }
}

/// `/metrics` and `/healthz` on a listener of their own, for a process that
/// runs services without the console (`hub router`, `hub gateway`, ...;
/// `HUB_METRICS_ADDR`). Installs the recorder first; serves until
/// `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: Shutdown) -> Result<(), std::io::Error> {
    let handle = handle();
    let upkeep = {
        let handle = handle.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                if let Some(handle) = &handle {
                    handle.run_upkeep();
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(10)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        })
    };
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    let router = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move { render(handle.as_ref()) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    let _ = upkeep.await;
    result
}
