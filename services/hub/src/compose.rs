//! Composition of the services: which run, sharing one gRPC listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hub_core::amqp::consumer::RetryPolicy;
use hub_core::amqp::topology::TopologySettings;
use hub_core::auth::Credentials;
use hub_core::config::{AmqpConfig, DatabaseConfig, RabbitApiConfig};
use hub_core::health::Health;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::RoutesBuilder;

/// A service of the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// gRPC ingest.
    Gateway,
    /// Policy enforcement.
    Router,
    /// Personnel dossier.
    Dossier,
    /// Operators' service and the dead-letter keeper.
    Operator,
    /// Case feed for processors (gRPC).
    Feed,
}

impl Component {
    /// Every component, for `hub all`.
    pub const ALL: [Component; 5] = [
        Component::Gateway,
        Component::Router,
        Component::Dossier,
        Component::Operator,
        Component::Feed,
    ];

    /// True when the component serves gRPC.
    #[must_use]
    pub fn serves_grpc(self) -> bool {
        self != Component::Router
    }
}

/// The configuration of every service, built once by the binary (from
/// flags and environment) or by a test (directly).
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The broker.
    pub amqp: AmqpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The RabbitMQ management API.
    pub rabbit_api: RabbitApiConfig,
    /// The validated catalog.
    pub catalog: Arc<Catalog>,
    /// Key of the subject pseudonyms.
    pub pseudonym_key: PseudonymKey,
    /// Tokens of parties and of the admin.
    pub credentials: Credentials,
    /// Operators and their roles.
    pub operators: hub_operator::Operators,
    /// Largest gRPC request, in bytes.
    pub max_grpc_message_bytes: usize,
    /// gRPC over TLS (and mTLS for parties), when configured.
    pub tls: Option<hub_core::tls::TlsFiles>,
    /// Retry budget of transient failures.
    pub retry: RetryPolicy,
    /// How often dead-letter payloads past their retention are purged.
    pub purge_interval: Duration,
    /// Drain time on shutdown.
    pub grace: Duration,
    /// The dossier's users (token → personnel number) and sweep interval.
    pub dossier_settings: hub_dossier::Settings,
    /// The operator's web console (with `/metrics`); `None` serves none.
    pub console: Option<hub_operator::ConsoleSettings>,
}

impl HubConfig {
    /// The queue settings.
    #[must_use]
    pub fn topology(&self) -> TopologySettings {
        hub_router::topology_settings(&self.amqp, &self.catalog)
    }

    fn router(&self) -> hub_router::Config {
        hub_router::Config {
            amqp: self.amqp.clone(),
            database: self.database.clone(),
            catalog: self.catalog.clone(),
            pseudonym_key: self.pseudonym_key.clone(),
            retry: self.retry.clone(),
            grace: self.grace,
        }
    }

    fn gateway(&self) -> hub_gateway::Config {
        hub_gateway::Config {
            amqp: self.amqp.clone(),
            catalog: self.catalog.clone(),
            credentials: self.credentials.clone(),
            max_message_bytes: self.max_grpc_message_bytes,
            topology: self.topology(),
        }
    }

    fn operator(&self) -> hub_operator::Config {
        hub_operator::Config {
            amqp: self.amqp.clone(),
            database: self.database.clone(),
            rabbit_api: self.rabbit_api.clone(),
            catalog: self.catalog.clone(),
            pseudonym_key: self.pseudonym_key.clone(),
            operators: self.operators.clone(),
            max_message_bytes: self.max_grpc_message_bytes,
            retry: self.retry.clone(),
            grace: self.grace,
            purge_interval: self.purge_interval,
            console: self.console.clone(),
        }
    }

    fn feed(&self) -> hub_feed::Config {
        hub_feed::Config {
            amqp: self.amqp.clone(),
            database: self.database.clone(),
            catalog: self.catalog.clone(),
            credentials: self.credentials.clone(),
            max_message_bytes: self.max_grpc_message_bytes,
        }
    }

    fn dossier(&self) -> hub_dossier::Config {
        hub_dossier::Config {
            amqp: self.amqp.clone(),
            database: self.database.clone(),
            pseudonym_key: self.pseudonym_key.clone(),
            credentials: self.credentials.clone(),
            users: self.dossier_settings.users.clone(),
            sweep_interval: self.dossier_settings.sweep_interval,
            retry: self.retry.clone(),
            grace: self.grace,
            max_message_bytes: self.max_grpc_message_bytes,
        }
    }
}

/// Running services.
#[derive(Debug)]
pub struct Running {
    /// Where gRPC listens, if any component serves gRPC.
    pub grpc_addr: Option<SocketAddr>,
    /// Component states.
    pub health: Health,
    shutdown: Shutdown,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Triggers shutdown and waits for every service to drain.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until every service has ended (after shutdown fired).
    pub async fn wait(self) {
        for (name, task) in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(service = name, error = %error, "service task failed");
            }
        }
    }
}

/// Starts `components`; the gRPC ones share `grpc`. Returns once every
/// component is connected; a component that cannot start fails the call.
pub async fn start(
    config: &HubConfig,
    components: &[Component],
    grpc: Option<TcpListener>,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let health = Health::default();
    let mut tasks = Vec::new();
    let mut routes = RoutesBuilder::default();
    let mut grpc_services: Vec<&str> = Vec::new();
    if components.contains(&Component::Router) {
        let task = hub_router::start(config.router(), health.clone(), shutdown.clone())
            .await
            .context("router")?;
        tasks.push(("router", task));
    }
    if components.contains(&Component::Gateway) {
        hub_gateway::start(&config.gateway(), &mut routes)
            .await
            .context("gateway")?;
        grpc_services.extend(hub_gateway::SERVICE_NAMES);
    }
    if components.contains(&Component::Dossier) {
        let task = hub_dossier::start(
            &config.dossier(),
            &mut routes,
            health.clone(),
            shutdown.clone(),
        )
        .await
        .context("dossier")?;
        tasks.push(("dossier", task));
        grpc_services.extend(hub_dossier::SERVICE_NAMES);
    }
    if components.contains(&Component::Operator) {
        let task = hub_operator::start(
            &config.operator(),
            &mut routes,
            health.clone(),
            shutdown.clone(),
        )
        .await
        .context("operator")?;
        tasks.push(("operator", task));
        grpc_services.extend(hub_operator::SERVICE_NAMES);
    }
    if components.contains(&Component::Feed) {
        hub_feed::start(&config.feed(), &mut routes, shutdown.clone())
            .await
            .context("feed")?;
        grpc_services.extend(hub_feed::SERVICE_NAMES);
    }
    let mut grpc_addr = None;
    if !grpc_services.is_empty() {
        let listener = grpc.context(
            "a gRPC listener is needed for the gateway, dossier, operator and feed services",
        )?;
        grpc_addr = Some(listener.local_addr()?);
        hub_core::grpc::add_health_and_reflection(&mut routes, &grpc_services)
            .await
            .map_err(anyhow::Error::msg)?;
        health.set(
            "grpc",
            true,
            format!("serving on {}", listener.local_addr()?),
        );
        let shutdown = shutdown.clone();
        let grpc_health = health.clone();
        let tls = config.tls.clone();
        tasks.push((
            "grpc",
            tokio::spawn(async move {
                if let Err(error) =
                    hub_core::grpc::serve(listener, routes, tls.as_ref(), shutdown).await
                {
                    grpc_health.set("grpc", false, error.clone());
                    tracing::error!(error = %error, "grpc server failed");
                }
            }),
        ));
    }
    Ok(Running {
        grpc_addr,
        health,
        shutdown,
        tasks,
    })
}
