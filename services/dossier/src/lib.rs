//! The digital personnel dossier (Regeling personeelsdossiers Defensie).
//!
//! It consumes `dossier.onboarding` and files the onboarding data of a hire
//! event under the HR process `instroom`, one entry per art 13 category,
//! exactly once per message id (the inbox row and the entries are written in
//! one transaction). `DossierService` serves the dossiers through the
//! authorisation matrix (art 7) with an access log, the subject rights
//! (art 8-10), transfers (art 16) and retention (art 17, 18); a sweeper
//! moves dossiers to the archive periodically.
//!
//! Who calls: the records manager (the `admin` identity of the hub's
//! credentials, `HUB_ADMIN_TOKEN`) keeps the matrix, exemptions, end dates
//! and decisions and runs the sweep; people, identified by personnel number
//! (`users`), read through the matrix and exercise their rights.
//!
//! Modules: `rules` (the Regeling as pure functions), `access` (a decision
//! and its log record), `store` (reads and the access log), one module per
//! group of RPCs (`matrix`, `admin`, `subject`, `requests`, `transfer`,
//! `retention`), `api` (the gRPC surface), `error` (errors to statuses).

mod access;
mod admin;
mod api;
mod apply;
mod caller;
mod convert;
mod error;
mod grants;
mod matrix;
mod requests;
pub mod retention;
pub mod rules;
mod store;
mod subject;
mod transfer;
mod users;

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
pub use caller::RECORDS_MANAGER;
pub use users::parse_users;

/// How often the service sweeps for dossiers due for the archive, unless
/// configured otherwise.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(3_600);

/// The dossier's own settings in the hub's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bearer token → personnel number of the people who call
    /// `DossierService`.
    pub users: Credentials,
    /// How often the retention sweep runs inside the service.
    pub sweep_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            users: Credentials::default(),
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
        }
    }
}

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
    /// The hub's credentials: of these only `admin`, the records manager,
    /// has a role in `DossierService`.
    pub credentials: Credentials,
    /// People who call `DossierService`: bearer token → personnel number.
    pub users: Credentials,
    /// How often the retention sweep runs inside the service.
    pub sweep_interval: Duration,
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
    let identities = caller::Identities {
        credentials: config.credentials.clone(),
        users: config.users.clone(),
    };
    api::add(pool.clone(), identities, routes, config.max_message_bytes);
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
    let sweeper =
        retention::run_periodically(pool.clone(), config.sweep_interval, shutdown.clone());
    Ok(tokio::spawn(async move {
        tokio::join!(
            consumer::run(amqp.clone(), publisher, spec, applier, health, shutdown),
            sweeper
        );
        amqp.close().await;
        pool.close().await;
    }))
}
