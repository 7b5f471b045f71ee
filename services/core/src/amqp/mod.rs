//! AMQP (RabbitMQ) with lapin: one connection per service, replaced by a
//! new one whenever it is not connected; the contract's topology; a
//! publisher that waits for confirms; and a consumer loop with manual acks,
//! retries, dead-lettering and reconnection with backoff.
//!
//! Why the hub reconnects itself instead of using lapin's auto-recovery:
//! in the RabbitMQ-restart drill (lapin 4.12.3, RabbitMQ 3.10) a recovering
//! connection sometimes stayed in `Reconnecting` for good, and every
//! consumer waiting for it stalled; about one run in three. Reconnecting
//! from scratch (new connection, new channels, consumers declared again) is
//! simple, and the drill shows it recovers every time.

pub mod consumer;
pub mod headers;
pub mod publisher;
pub mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::{Channel, Connection, ConnectionProperties, Event};
use tokio::sync::RwLock;

use crate::config::AmqpConfig;

/// Why the broker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The broker did not answer or refused the login.
    #[error(
        "RabbitMQ is not reachable at {url} ({detail}). Start it (Debian: `rabbitmq-server -detached`; Docker: `docker compose up -d rabbitmq`) or set HUB_AMQP_URL"
    )]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// What happened.
        detail: String,
    },
    /// A broker operation failed.
    #[error("AMQP: {0}")]
    Protocol(#[from] lapin::Error),
}

/// A service's connection to the broker. Cheap to clone.
#[derive(Clone)]
pub struct Amqp {
    inner: Arc<Inner>,
}

struct Inner {
    config: AmqpConfig,
    name: String,
    connection: RwLock<Connection>,
    blocked: Arc<AtomicBool>,
}

impl std::fmt::Debug for Amqp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Amqp")
            .field("url", &self.inner.config.redacted_url())
            .field("name", &self.inner.name)
            .finish()
    }
}

async fn open(
    config: &AmqpConfig,
    name: &str,
    blocked: &Arc<AtomicBool>,
) -> Result<Connection, AmqpError> {
    crate::install_crypto_provider();
    let props = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    // `amqps://` works with the system's roots; HUB_AMQP_TLS_CA adds a
    // private CA.
    let tls = lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain: match &config.tls_ca {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|e| AmqpError::Unreachable {
                        url: config.redacted_url(),
                        detail: format!("cannot read HUB_AMQP_TLS_CA {}: {e}", path.display()),
                    })?,
                )
            }
            None => None,
        },
    };
    let runtime = lapin::runtime::default_runtime().map_err(|e| AmqpError::Unreachable {
        url: config.redacted_url(),
        detail: format!("no async runtime: {e}"),
    })?;
    let connect = Connection::connect_with_config(&config.url, props, tls, runtime);
    let connection = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(AmqpError::Unreachable {
                url: config.redacted_url(),
                detail: e.to_string(),
            });
        }
        Err(_) => {
            return Err(AmqpError::Unreachable {
                url: config.redacted_url(),
                detail: "no answer within 10 s".to_owned(),
            });
        }
    };
    let mut events = connection.events_listener();
    let blocked = blocked.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::Connected => {
                    blocked.store(false, Ordering::SeqCst);
                    tracing::info!(connection = %name, "amqp connected");
                }
                Event::ConnectionBlocked(reason) => {
                    blocked.store(true, Ordering::SeqCst);
                    tracing::warn!(connection = %name, reason = %reason, "broker blocked publishing (resource alarm)");
                }
                Event::ConnectionUnblocked => {
                    blocked.store(false, Ordering::SeqCst);
                    tracing::info!(connection = %name, "broker unblocked publishing");
                }
                Event::Error(error) => {
                    tracing::warn!(connection = %name, error = %error, "amqp connection error");
                }
                _ => {}
            }
        }
    });
    Ok(connection)
}

/// Checks that something listens at the URL's host and port, so that a
/// broker that is down fails at once with the operating system's reason
/// (lapin would keep retrying the first connection).
async fn probe(config: &AmqpConfig) -> Result<(), AmqpError> {
    let unreachable = |detail: String| AmqpError::Unreachable {
        url: config.redacted_url(),
        detail,
    };
    let uri: lapin::uri::AMQPUri = config
        .url
        .parse()
        .map_err(|e| unreachable(format!("not an AMQP URL: {e}")))?;
    let address = format!("{}:{}", uri.authority.host, uri.authority.port);
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&address),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("{address} did not answer within 5 s"))),
    }
}

impl Amqp {
    /// Connects once; a failure is reported with the URL and the fix.
    pub async fn connect(config: &AmqpConfig, name: &str) -> Result<Self, AmqpError> {
        probe(config).await?;
        let blocked = Arc::new(AtomicBool::new(false));
        let connection = open(config, name, &blocked).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                name: name.to_owned(),
                connection: RwLock::new(connection),
                blocked,
            }),
        })
    }

    /// The configuration this connection was made with.
    #[must_use]
    pub fn config(&self) -> &AmqpConfig {
        &self.inner.config
    }

    /// The AMQP user the hub connects as.
    #[must_use]
    pub fn user(&self) -> String {
        self.inner.config.user()
    }

    /// True while the broker blocks publishing (memory or disk alarm).
    #[must_use]
    pub fn is_blocked(&self) -> bool {
        self.inner.blocked.load(Ordering::SeqCst)
    }

    /// A new channel. When the connection has ended for good (recovery
    /// gave up or the broker closed it), a new connection is made first.
    pub async fn channel(&self) -> Result<Channel, AmqpError> {
        {
            let connection = self.inner.connection.read().await;
            if connection.status().connected() {
                return Ok(connection.create_channel().await?);
            }
        }
        let mut connection = self.inner.connection.write().await;
        if !connection.status().connected() {
            tracing::info!(connection = %self.inner.name, "amqp connection lost, reconnecting");
            probe(&self.inner.config).await?;
            *connection = open(&self.inner.config, &self.inner.name, &self.inner.blocked).await?;
        }
        Ok(connection.create_channel().await?)
    }

    /// Closes the connection (at shutdown).
    pub async fn close(&self) {
        let connection = self.inner.connection.read().await;
        if connection.status().connected() {
            let _ = connection.close(200, "shutdown".into()).await;
        }
    }
}
