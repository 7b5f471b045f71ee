//! The router: the hub's single policy enforcement point.
//!
//! It consumes `hub.router` and, for each message, checks in this order and
//! stops at the first failure: size, message type, producer (the
//! broker-validated `user_id`, or `x-hub-source` when the hub itself
//! published), declared purposes, then the payload (decoding, unknown
//! fields, required fields, BSN eleven test, dates), then case ownership for
//! processor reports. Envelope checks come before the payload is parsed, so
//! nothing from an unauthorised source is ever decoded.
//!
//! A message that passes is minimised separately for every route whose
//! purpose it declared. The processing log is written (one record per
//! delivery) in the same transaction as the inbox row, before anything is
//! published: no log write, no delivery. Then the copies are published to
//! `hub.egress` with confirms, and only then is the original acked.

mod decide;
mod log;
mod maintenance;

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::consumer::{self, ConsumerSpec, RetryPolicy};
use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::topology::{self, TopologySettings};
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::config::{AmqpConfig, DatabaseConfig};
use hub_core::db::{self, ConnectError};
use hub_core::envelope::ROUTER_QUEUE;
use hub_core::health::Health;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use tokio::task::JoinHandle;

pub use decide::Router;

/// Everything the router needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker.
    pub amqp: AmqpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The validated catalog.
    pub catalog: Arc<Catalog>,
    /// Key of the subject pseudonyms in the processing log.
    pub pseudonym_key: PseudonymKey,
    /// Retry budget of transient failures.
    pub retry: RetryPolicy,
    /// Drain time on shutdown.
    pub grace: Duration,
}

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The database.
    #[error(transparent)]
    Database(#[from] ConnectError),
    /// Declaring the topology failed.
    #[error("declaring the AMQP topology failed: {0}")]
    Topology(String),
}

/// The topology settings that follow from the configuration and catalog.
#[must_use]
pub fn topology_settings(amqp: &AmqpConfig, catalog: &Catalog) -> TopologySettings {
    TopologySettings {
        delivery_limit: amqp.delivery_limit,
        max_length: amqp.max_length,
        dead_letter_ttl: catalog.dead_letter_retention(),
    }
}

/// Connects, declares the topology and starts consuming; the task ends
/// after `shutdown` fired and the in-flight messages drained.
pub async fn start(
    config: Config,
    health: Health,
    shutdown: Shutdown,
) -> Result<JoinHandle<()>, RouterError> {
    let pool = db::connect_keeping(&config.database, log::WARM_CONNECTIONS).await?;
    if let Err(error) = log::warm(&pool).await {
        // Not fatal: the first log writes retry like any other.
        tracing::warn!(error = %error, "could not prepare the processing-log connections");
    }
    let amqp = Amqp::connect(&config.amqp, "hub-router").await?;
    let channel = amqp.channel().await?;
    topology::declare(
        &channel,
        config.catalog.recipient_queues(),
        &topology_settings(&config.amqp, &config.catalog),
    )
    .await
    .map_err(|e| RouterError::Topology(e.to_string()))?;
    let _ = channel.close(200, "declared".into()).await;

    let maintenance = tokio::spawn(maintenance::run(pool.clone(), shutdown.clone()));
    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    let router = Arc::new(Router::new(
        config.catalog.clone(),
        config.pseudonym_key.clone(),
        pool.clone(),
        publisher.clone(),
        amqp.user(),
        config.amqp.max_payload_bytes,
    ));
    let spec = ConsumerSpec {
        queue: ROUTER_QUEUE.to_owned(),
        service: "router",
        prefetch: config.amqp.prefetch,
        retry: config.retry.clone(),
        grace: config.grace,
    };
    Ok(tokio::spawn(async move {
        consumer::run(amqp.clone(), publisher, spec, router, health, shutdown).await;
        let _ = maintenance.await;
        amqp.close().await;
        pool.close().await;
    }))
}
