//! The digital personnel dossier (Regeling personeelsdossiers Defensie).
//!
//! It consumes `dossier.onboarding` and files the onboarding data of a hire
//! event under the HR process `instroom`, one entry per art 13 category,
//! exactly once per message id (the inbox row and the entries are written in
//! one transaction). `DossierService` serves the dossiers.

mod api;
mod apply;

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::consumer::{self, ConsumerSpec, RetryPolicy};
use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::auth::Credentials;
use hub_core::config::{AmqpConfig, DatabaseConfig};
use hub_core::db::{self, ConnectError};
use hub_core::health::Health;
use hub_core::shutdown::Shutdown;
use hub_policy::PseudonymKey;
use tokio::task::JoinHandle;
use tonic::service::RoutesBuilder;

pub use apply::Applier;

/// The queue the dossier consumes.
pub const QUEUE: &str = "dossier.onboarding";

/// The gRPC services the dossier serves.
pub const SERVICE_NAMES: [&str; 1] = ["hub.dossier.v1.DossierService"];

/// Everything the dossier service needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker.
    pub amqp: AmqpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Key of the subject pseudonyms.
    pub pseudonym_key: PseudonymKey,
    /// Callers of `DossierService`: until the authorisation matrix exists,
    /// only the identity `admin` may read.
    pub credentials: Credentials,
    /// Retry budget of transient failures.
    pub retry: RetryPolicy,
    /// Drain time on shutdown.
    pub grace: Duration,
    /// Largest gRPC request, in bytes.
    pub max_message_bytes: usize,
}

/// Why the dossier service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The database.
    #[error(transparent)]
    Database(#[from] ConnectError),
}

/// Connects, adds `DossierService` to `routes` and starts the consumer.
pub async fn start(
    config: &Config,
    routes: &mut RoutesBuilder,
    health: Health,
    shutdown: Shutdown,
) -> Result<JoinHandle<()>, DossierError> {
    let pool = db::connect(&config.database).await?;
    let amqp = Amqp::connect(&config.amqp, "hub-dossier").await?;
    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    api::add(
        pool.clone(),
        config.credentials.clone(),
        routes,
        config.max_message_bytes,
    );
    let applier = Arc::new(Applier::new(
        pool.clone(),
        config.pseudonym_key.clone(),
        amqp.user(),
    ));
    let spec = ConsumerSpec {
        queue: QUEUE.to_owned(),
        service: "dossier",
        prefetch: config.amqp.prefetch,
        retry: config.retry.clone(),
        grace: config.grace,
    };
    Ok(tokio::spawn(async move {
        consumer::run(amqp.clone(), publisher, spec, applier, health, shutdown).await;
        amqp.close().await;
        pool.close().await;
    }))
}
