//! The operator service: `OperatorService` over gRPC for `hubctl` and the
//! console. Every caller has a role; what a role may do is decided in one
//! place ([`auth::Role::may`]), and sensitive actions are audited.

pub mod auth;
pub mod keeper;
mod search;

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::consumer::{self, ConsumerSpec, RetryPolicy};
use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::topology::work_queues;
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::config::{AmqpConfig, DatabaseConfig};
use hub_core::db::{self, ConnectError};
use hub_core::envelope::dead_queue;
use hub_core::health::Health;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use hub_proto::operator::v1::operator_service_server::OperatorServiceServer;
use tonic::service::RoutesBuilder;

pub use auth::{Operators, Role};

/// The gRPC services the operator serves.
pub const SERVICE_NAMES: [&str; 1] = ["hub.operator.v1.OperatorService"];

/// Everything the operator service needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker (the dead-letter queues).
    pub amqp: AmqpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The catalog.
    pub catalog: Arc<Catalog>,
    /// Key of the subject pseudonyms (to search the processing log).
    pub pseudonym_key: PseudonymKey,
    /// Operators and their roles.
    pub operators: Operators,
    /// Largest gRPC request, in bytes.
    pub max_message_bytes: usize,
    /// Retry budget of transient failures (storing dead letters).
    pub retry: RetryPolicy,
    /// Drain time on shutdown.
    pub grace: Duration,
    /// How often payloads past their retention are purged.
    pub purge_interval: Duration,
}

/// Why the operator service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The database.
    #[error(transparent)]
    Database(#[from] ConnectError),
}

/// Connects, adds `OperatorService` to `routes`, and starts the dead-letter
/// keepers and the purger; the task ends after `shutdown`.
pub async fn start(
    config: &Config,
    routes: &mut RoutesBuilder,
    health: Health,
    shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, OperatorError> {
    let pool = db::connect(&config.database).await?;
    let amqp = Amqp::connect(&config.amqp, "hub-operator").await?;
    let service = search::Service::new(
        pool.clone(),
        config.pseudonym_key.clone(),
        config.operators.clone(),
    );
    routes.add_service(
        OperatorServiceServer::new(service).max_decoding_message_size(config.max_message_bytes),
    );

    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    let mut tasks = Vec::new();
    for queue in work_queues(config.catalog.recipient_queues()) {
        let dead = dead_queue(&queue);
        let keeper = Arc::new(keeper::Keeper::new(
            pool.clone(),
            config.catalog.clone(),
            dead.clone(),
        ));
        let spec = ConsumerSpec {
            queue: dead,
            service: "operator",
            prefetch: config.amqp.prefetch,
            retry: config.retry.clone(),
            grace: config.grace,
        };
        tasks.push(tokio::spawn(consumer::run(
            amqp.clone(),
            publisher.clone(),
            spec,
            keeper,
            health.clone(),
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(keeper::purge_loop(
        pool.clone(),
        config.purge_interval,
        shutdown.clone(),
    )));
    Ok(tokio::spawn(async move {
        for task in tasks {
            let _ = task.await;
        }
        amqp.close().await;
        pool.close().await;
    }))
}
