//! Configuration shared by the services: flags with `HUB_*` environment
//! variables (clap `env`). Each service composes the parts it needs into its
//! own `Config`; tests build these values directly and never touch the
//! process environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hub_policy::PseudonymKey;

/// Where RabbitMQ is.
#[derive(Args, Clone, Debug)]
pub struct AmqpConfig {
    /// AMQP URL of RabbitMQ, with the hub's own user and the vhost.
    #[arg(
        id = "amqp_url",
        long = "amqp-url",
        env = "HUB_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,
    /// How many deliveries a consumer holds unacked at once.
    #[arg(
        id = "amqp_prefetch",
        long = "amqp-prefetch",
        env = "HUB_AMQP_PREFETCH",
        default_value_t = 64
    )]
    pub prefetch: u16,
    /// How many times a queue delivers a message before dead-lettering it.
    #[arg(
        id = "amqp_delivery_limit",
        long = "amqp-delivery-limit",
        env = "HUB_AMQP_DELIVERY_LIMIT",
        default_value_t = 5
    )]
    pub delivery_limit: u32,
    /// Longest a hub queue may grow before publishers are refused.
    #[arg(
        id = "amqp_max_length",
        long = "amqp-max-length",
        env = "HUB_AMQP_MAX_LENGTH",
        default_value_t = 100_000
    )]
    pub max_length: u32,
    /// CA certificate (PEM) to verify the broker with, for `amqps://` URLs
    /// when the broker's certificate is not signed by a public CA.
    #[arg(id = "amqp_tls_ca", long = "amqp-tls-ca", env = "HUB_AMQP_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Largest AMQP payload the hub accepts, in bytes.
    #[arg(id = "max_payload_bytes", long = "max-payload-bytes", env = "HUB_MAX_PAYLOAD_BYTES", default_value_t = 1024 * 1024)]
    pub max_payload_bytes: usize,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            prefetch: 64,
            delivery_limit: 5,
            max_length: 100_000,
            max_payload_bytes: 1024 * 1024,
            tls_ca: None,
        }
    }
}

impl AmqpConfig {
    /// The user the hub connects as (the AMQP URL's user).
    #[must_use]
    pub fn user(&self) -> String {
        self.parsed()
            .map(|u| u.authority.userinfo.username)
            .unwrap_or_default()
    }

    /// The vhost of the AMQP URL (`/` for `%2f`).
    #[must_use]
    pub fn vhost(&self) -> String {
        self.parsed()
            .map(|u| u.vhost)
            .unwrap_or_else(|| "/".to_owned())
    }

    /// The password of the AMQP URL.
    #[must_use]
    pub fn password(&self) -> String {
        self.parsed()
            .map(|u| u.authority.userinfo.password)
            .unwrap_or_default()
    }

    /// The URL without its password, for messages.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    fn parsed(&self) -> Option<lapin::uri::AMQPUri> {
        self.url.parse().ok()
    }
}

/// Where PostgreSQL is.
#[derive(Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// PostgreSQL URL; `hub migrate` creates the database when it is missing.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "HUB_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/hub"
    )]
    pub url: String,
    /// Connections in the pool.
    #[arg(
        id = "database_max_connections",
        long = "database-max-connections",
        env = "HUB_DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub max_connections: u32,
    /// How long a statement waits for a row lock before it fails (a
    /// transient failure: the message is retried), in milliseconds.
    #[arg(
        id = "database_lock_timeout_ms",
        long = "database-lock-timeout-ms",
        env = "HUB_DATABASE_LOCK_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub lock_timeout_ms: u64,
    /// Longest a statement may run, in milliseconds.
    #[arg(
        id = "database_statement_timeout_ms",
        long = "database-statement-timeout-ms",
        env = "HUB_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub statement_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/hub".to_owned(),
            max_connections: 10,
            lock_timeout_ms: 5_000,
            statement_timeout_ms: 30_000,
        }
    }
}

impl DatabaseConfig {
    /// The URL without its password, for messages.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// The policy catalog.
#[derive(Args, Clone, Debug)]
pub struct CatalogConfig {
    /// Path of the policy catalog.
    #[arg(
        id = "catalog",
        long = "catalog",
        env = "HUB_CATALOG",
        default_value = "policy/catalog.toml"
    )]
    pub path: PathBuf,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("policy/catalog.toml"),
        }
    }
}

/// The RabbitMQ management API (queues, users, permissions).
#[derive(Args, Clone, Debug)]
pub struct RabbitApiConfig {
    /// Base URL of the management API; credentials default to the AMQP URL's.
    #[arg(
        id = "rabbitmq_api",
        long = "rabbitmq-api",
        env = "HUB_RABBITMQ_API",
        default_value = "http://127.0.0.1:15672"
    )]
    pub url: String,
}

impl Default for RabbitApiConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:15672".to_owned(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Telemetry settings.
#[derive(Args, Clone, Debug)]
pub struct TelemetryConfig {
    /// Log format.
    #[arg(id = "log_format", long = "log-format", env = "HUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub format: LogFormat,
    /// Log filter in `tracing` syntax (`info`, `hub_router=debug`).
    #[arg(id = "log", long = "log", env = "HUB_LOG", default_value = "info")]
    pub filter: String,
}

/// Where gRPC listens.
#[derive(Args, Clone, Debug)]
pub struct GrpcConfig {
    /// Address of the gRPC server.
    #[arg(
        id = "grpc_addr",
        long = "grpc-addr",
        env = "HUB_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: SocketAddr,
    /// Largest gRPC request the hub accepts, in bytes.
    #[arg(id = "grpc_max_message_bytes", long = "grpc-max-message-bytes", env = "HUB_GRPC_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Server certificate chain (PEM); with `--tls-key`, gRPC is served over
    /// TLS only.
    #[arg(
        id = "tls_cert",
        long = "tls-cert",
        env = "HUB_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(
        id = "tls_key",
        long = "tls-key",
        env = "HUB_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// CA of the parties' client certificates (PEM): enables mTLS, with
    /// bearer tokens kept as the fallback.
    #[arg(
        id = "tls_client_ca",
        long = "tls-client-ca",
        env = "HUB_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

impl GrpcConfig {
    /// The TLS files, when TLS is configured.
    #[must_use]
    pub fn tls(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }
}

/// The operator console (web UI), `/metrics`, `/healthz` and `/readyz`.
#[derive(Args, Clone, Debug)]
pub struct ConsoleConfig {
    /// Address of the web console and of `/metrics`, `/healthz`, `/readyz`.
    #[arg(
        id = "console_addr",
        long = "console-addr",
        env = "HUB_CONSOLE_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,
    /// Mark the session cookie `Secure`: set this when the console is
    /// reached over HTTPS (a TLS-terminating proxy in front of it).
    #[arg(
        id = "console_secure_cookie",
        long = "console-secure-cookie",
        env = "HUB_CONSOLE_SECURE_COOKIE"
    )]
    pub secure_cookie: bool,
    /// How long a console session lasts after login, in minutes.
    #[arg(
        id = "console_session_minutes",
        long = "console-session-minutes",
        env = "HUB_CONSOLE_SESSION_MINUTES",
        default_value_t = 480
    )]
    pub session_minutes: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookie: false,
            session_minutes: 480,
        }
    }
}

/// How long a service may take to drain on SIGTERM.
#[derive(Args, Clone, Debug)]
pub struct ShutdownConfig {
    /// Grace period for finishing in-flight work, in seconds.
    #[arg(
        id = "shutdown_grace_secs",
        long = "shutdown-grace-secs",
        env = "HUB_SHUTDOWN_GRACE_SECS",
        default_value_t = 20
    )]
    pub grace_secs: u64,
}

impl ShutdownConfig {
    /// The grace period.
    #[must_use]
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_secs)
    }
}

/// Reads the pseudonym key from `HUB_PSEUDONYM_KEY`, or from the file named
/// by `HUB_PSEUDONYM_KEY_FILE`. `None` when neither is set.
pub fn pseudonym_key_from_env() -> Result<Option<PseudonymKey>, String> {
    let secret = match (
        std::env::var("HUB_PSEUDONYM_KEY"),
        std::env::var("HUB_PSEUDONYM_KEY_FILE"),
    ) {
        (Ok(value), _) => value.into_bytes(),
        (Err(_), Ok(path)) => std::fs::read(&path)
            .map_err(|e| format!("cannot read HUB_PSEUDONYM_KEY_FILE {path}: {e}"))?
            .trim_ascii()
            .to_vec(),
        _ => return Ok(None),
    };
    PseudonymKey::new(secret)
        .map(Some)
        .map_err(|e| format!("HUB_PSEUDONYM_KEY: {e}"))
}

/// The environment variable suffix of a party id: upper case, `-` as `_`
/// (`future-smart` becomes `FUTURE_SMART`).
#[must_use]
pub fn party_env_suffix(party: &str) -> String {
    party.to_ascii_uppercase().replace('-', "_")
}

/// Reads `<PREFIX><PARTY>` for every party, e.g. `HUB_PARTY_TOKEN_WENS`.
/// A value may also come from a file named by `<PREFIX><PARTY>_FILE`.
pub fn party_secrets_from_env<'a>(
    prefix: &str,
    parties: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for party in parties {
        let name = format!("{prefix}{}", party_env_suffix(party));
        if let Ok(value) = std::env::var(&name) {
            out.insert(party.to_owned(), value);
        } else if let Ok(path) = std::env::var(format!("{name}_FILE")) {
            let value = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {name}_FILE {path}: {e}"))?;
            out.insert(party.to_owned(), value.trim().to_owned());
        }
    }
    Ok(out)
}

/// Replaces the password of a URL with `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_url_parts() {
        let config = AmqpConfig {
            url: "amqp://hub:s3cret@127.0.0.1:5672/hub-t-1".to_owned(),
            ..AmqpConfig::default()
        };
        assert_eq!(config.user(), "hub");
        assert_eq!(config.vhost(), "hub-t-1");
        assert_eq!(
            config.redacted_url(),
            "amqp://hub:***@127.0.0.1:5672/hub-t-1"
        );
        assert_eq!(AmqpConfig::default().vhost(), "/");
    }

    #[test]
    fn party_suffixes() {
        assert_eq!(party_env_suffix("future-smart"), "FUTURE_SMART");
        assert_eq!(party_env_suffix("wens"), "WENS");
    }
}
