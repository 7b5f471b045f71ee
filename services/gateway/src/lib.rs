//! The gateway: gRPC ingest for producers that do not speak AMQP.
//!
//! The caller is identified by its credentials; the payload is validated
//! (required fields, the BSN eleven test, plausible dates) and answered with
//! `INVALID_ARGUMENT` and `google.rpc.BadRequest` details when it fails. A
//! valid event is published to `hub.ingress` as protobuf, with the caller as
//! `x-hub-source`, and the call answers OK only after the broker confirmed
//! it. The same event id always yields the same AMQP `message_id`, so a
//! resubmission is recognised downstream.

mod ingest;
mod services;

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::topology::{self, TopologySettings};
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::auth::Credentials;
use hub_core::config::AmqpConfig;
use hub_policy::Catalog;
use tonic::service::RoutesBuilder;

pub use ingest::{Ingest, Submission};
pub use services::traceparent;

/// Everything the gateway needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker.
    pub amqp: AmqpConfig,
    /// The validated catalog.
    pub catalog: Arc<Catalog>,
    /// Party tokens.
    pub credentials: Credentials,
    /// Largest gRPC request, in bytes.
    pub max_message_bytes: usize,
    /// The queue topology to declare at startup.
    pub topology: TopologySettings,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// Declaring the topology failed.
    #[error("declaring the AMQP topology failed: {0}")]
    Topology(String),
}

/// The gRPC services the gateway serves.
pub const SERVICE_NAMES: [&str; 2] = [
    "hub.wens.v1.HireEventService",
    "hub.reintegration.v1.CaseUpdateService",
];

/// Connects to the broker and adds the gateway's services to `routes`.
pub async fn start(
    config: &Config,
    routes: &mut RoutesBuilder,
) -> Result<Arc<Ingest>, GatewayError> {
    let amqp = Amqp::connect(&config.amqp, "hub-gateway").await?;
    let channel = amqp.channel().await?;
    topology::declare(
        &channel,
        config.catalog.recipient_queues(),
        &config.topology,
    )
    .await
    .map_err(|e| GatewayError::Topology(e.to_string()))?;
    let _ = channel.close(200, "declared".into()).await;
    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    let ingest = Arc::new(Ingest::new(
        config.catalog.clone(),
        config.credentials.clone(),
        publisher,
        amqp.user(),
    ));
    services::add(ingest.clone(), routes, config.max_message_bytes);
    Ok(ingest)
}
