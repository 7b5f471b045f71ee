//! The case feed: `CaseFeedService` for processors that prefer gRPC over
//! AMQP.
//!
//! `Subscribe` streams the caller's own queue, in queue order; each message
//! stays unacked in the broker until the processor calls `Ack` with its
//! message id. When the stream ends (disconnect, shutdown) the channel is
//! closed and the broker puts every unacked message back, so it comes again
//! on the next subscription. The processor is identified by its
//! credentials: Robidus's token can only ever open `processor.robidus`.
//! `SubmitReport` checks that the case was delivered to the caller and
//! publishes the report through the gateway's ingest path.

mod service;
mod subscription;

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::auth::Credentials;
use hub_core::config::{AmqpConfig, DatabaseConfig};
use hub_core::db::{self, ConnectError};
use hub_core::shutdown::Shutdown;
use hub_gateway::Ingest;
use hub_policy::Catalog;
use hub_proto::processor::v1::case_feed_service_server::CaseFeedServiceServer;
use tonic::service::RoutesBuilder;

/// The gRPC services the feed serves.
pub const SERVICE_NAMES: [&str; 1] = ["hub.processor.v1.CaseFeedService"];

/// Everything the feed needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker.
    pub amqp: AmqpConfig,
    /// The database (case ownership of reports).
    pub database: DatabaseConfig,
    /// The catalog (which queue is whose).
    pub catalog: Arc<Catalog>,
    /// Party tokens.
    pub credentials: Credentials,
    /// Largest gRPC request, in bytes.
    pub max_message_bytes: usize,
}

/// Why the feed could not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The database.
    #[error(transparent)]
    Database(#[from] ConnectError),
}

/// Connects and adds `CaseFeedService` to `routes`. Subscriptions end when
/// `shutdown` fires.
pub async fn start(
    config: &Config,
    routes: &mut RoutesBuilder,
    shutdown: Shutdown,
) -> Result<(), FeedError> {
    let pool = db::connect(&config.database).await?;
    let amqp = Amqp::connect(&config.amqp, "hub-feed").await?;
    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    let ingest = Ingest::new(
        config.catalog.clone(),
        config.credentials.clone(),
        publisher,
        amqp.user(),
    );
    let feed = service::Feed::new(
        amqp,
        pool,
        config.catalog.clone(),
        config.credentials.clone(),
        ingest,
        shutdown,
    );
    routes.add_service(
        CaseFeedServiceServer::new(feed).max_decoding_message_size(config.max_message_bytes),
    );
    Ok(())
}
