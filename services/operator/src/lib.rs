//! The operator service: what the people who run the hub use.
//!
//! - `OperatorService` over gRPC (for `hubctl`): overview, dead letters
//!   (groups, redacted view, reveal, retry, discard), processing-log search;
//! - the web console on its own listener, with `/metrics`, `/healthz` and
//!   `/readyz`;
//! - the dead-letter keeper, which drains every `dead.<queue>` into
//!   PostgreSQL, and the purger of payloads past their retention.
//!
//! Both front ends call [`ops::Ops`]: every caller has a role, what a role
//! may do is decided in one place ([`auth::Role::may`]), and sensitive
//! actions are recorded in `audit_log`.

pub mod auth;
mod console;
pub mod dead_letters;
pub mod error;
mod grpc;
pub mod keeper;
pub mod metrics;
pub mod ops;
pub mod overview;
pub mod redact;
pub mod replay;
pub mod search;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::consumer::{self, ConsumerSpec, RetryPolicy};
use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::topology::work_queues;
use hub_core::amqp::{Amqp, AmqpError};
use hub_core::config::{AmqpConfig, DatabaseConfig, RabbitApiConfig};
use hub_core::db::{self, ConnectError};
use hub_core::envelope::dead_queue;
use hub_core::health::Health;
use hub_core::rabbit_api::RabbitApi;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use hub_proto::operator::v1::operator_service_server::OperatorServiceServer;
use tokio_util::task::TaskTracker;
use tonic::service::RoutesBuilder;

pub use auth::{Operators, Role};
pub use console::{ConsoleSettings, PreboundListener};

/// The gRPC services the operator serves.
pub const SERVICE_NAMES: [&str; 1] = ["hub.operator.v1.OperatorService"];

/// How long a retry waits for the broker's confirm.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the operator service needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The broker (the dead-letter queues; retries are published as the
    /// hub's own user of this URL).
    pub amqp: AmqpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The management API (queue statistics and alarms).
    pub rabbit_api: RabbitApiConfig,
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
    /// The web console; `None` serves none (the demo).
    pub console: Option<ConsoleSettings>,
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
    /// The management API client.
    #[error("RabbitMQ management API: {0}")]
    RabbitApi(String),
    /// The console's address.
    #[error("cannot listen on HUB_CONSOLE_ADDR {addr}: {source}")]
    Console {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Connects, adds `OperatorService` to `routes`, serves the console, and
/// starts the dead-letter keepers and the purger; the task ends after
/// `shutdown`.
pub async fn start(
    config: &Config,
    routes: &mut RoutesBuilder,
    health: Health,
    shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, OperatorError> {
    // The recorder is installed where `/metrics` is served (it needs the
    // console's upkeep), before anything runs here, so nothing this process
    // counts from now on is lost.
    let metrics = config.console.as_ref().and_then(|_| metrics::handle());
    let pool = db::connect(&config.database).await?;
    let amqp = Amqp::connect(&config.amqp, "hub-operator").await?;
    let publisher = Arc::new(Publisher::new(amqp.clone(), PUBLISH_TIMEOUT));
    let rabbit = RabbitApi::new(
        &config.rabbit_api.url,
        &config.amqp.user(),
        &config.amqp.password(),
    )
    .map_err(OperatorError::RabbitApi)?;
    let ops = Arc::new(ops::Ops {
        pool: pool.clone(),
        catalog: config.catalog.clone(),
        key: config.pseudonym_key.clone(),
        operators: config.operators.clone(),
        rabbit,
        vhost: config.amqp.vhost(),
        health: health.clone(),
        publisher: publisher.clone(),
        hub_user: config.amqp.user(),
        shutdown: shutdown.clone(),
        jobs: TaskTracker::new(),
    });
    routes.add_service(
        OperatorServiceServer::new(grpc::Service::new(ops.clone()))
            .max_decoding_message_size(config.max_message_bytes),
    );

    let mut tasks = Vec::new();
    if let Some(settings) = &config.console {
        let listener = settings
            .bind()
            .await
            .map_err(|source| OperatorError::Console {
                addr: settings.addr,
                source,
            })?;
        let state = console::AppState {
            ops: ops.clone(),
            sessions: Arc::new(console::Sessions::new(
                pool.clone(),
                settings.session_ttl,
                settings.secure_cookie,
            )),
            metrics,
        };
        let shutdown = shutdown.clone();
        let console_health = health.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = console::serve(listener, state, shutdown).await {
                console_health.set("console", false, error.to_string());
                tracing::error!(error = %error, "console failed");
            }
        }));
    }
    for queue in work_queues(config.catalog.recipient_queues()) {
        let dead = dead_queue(&queue);
        let keeper = Arc::new(keeper::Keeper::new(
            pool.clone(),
            config.catalog.clone(),
            dead.clone(),
            config.amqp.user(),
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
        // Retry jobs stop between batches on shutdown; let them record
        // where they stopped before the connections go.
        ops.jobs.close();
        ops.jobs.wait().await;
        amqp.close().await;
        pool.close().await;
    }))
}
