//! The operator service: `OperatorService` over gRPC for `hubctl` and the
//! console. Every caller has a role; what a role may do is decided in one
//! place ([`auth::Role::may`]), and sensitive actions are audited.

pub mod auth;
mod search;

use std::sync::Arc;

use hub_core::config::DatabaseConfig;
use hub_core::db::{self, ConnectError};
use hub_policy::{Catalog, PseudonymKey};
use hub_proto::operator::v1::operator_service_server::OperatorServiceServer;
use tonic::service::RoutesBuilder;

pub use auth::{Operators, Role};

/// The gRPC services the operator serves.
pub const SERVICE_NAMES: [&str; 1] = ["hub.operator.v1.OperatorService"];

/// Everything the operator service needs.
#[derive(Clone, Debug)]
pub struct Config {
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
}

/// Why the operator service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The database.
    #[error(transparent)]
    Database(#[from] ConnectError),
}

/// Connects and adds `OperatorService` to `routes`.
pub async fn start(config: &Config, routes: &mut RoutesBuilder) -> Result<(), OperatorError> {
    let pool = db::connect(&config.database).await?;
    let service =
        search::Service::new(pool, config.pseudonym_key.clone(), config.operators.clone());
    routes.add_service(
        OperatorServiceServer::new(service).max_decoding_message_size(config.max_message_bytes),
    );
    Ok(())
}
