//! Plumbing shared by every hub service, and nothing domain-specific:
//! configuration, telemetry, graceful shutdown, the AMQP contract (topology,
//! confirmed publishing, a consumer loop with manual acks), PostgreSQL (pool,
//! migrations, transactions, error classification), the RabbitMQ management
//! API, and gRPC caller authentication.

#![forbid(unsafe_code)]

pub mod amqp;
pub mod auth;
pub mod config;
pub mod db;
pub mod envelope;
pub mod grpc;
pub mod health;
pub mod provision;
pub mod rabbit_api;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

/// Installs the process-wide rustls crypto provider (ring). Every binary and
/// test harness calls this once before any TLS is used; calling it again is
/// harmless.
pub fn install_crypto_provider() {
    // An error means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
