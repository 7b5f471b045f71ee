//! `TestEnv`: a vhost, a database, party users and secrets for one test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hub::compose::{Component, HubConfig, Running, start};
use hub_core::amqp::consumer::RetryPolicy;
use hub_core::auth::Credentials;
use hub_core::config::{AmqpConfig, DatabaseConfig, RabbitApiConfig};
use hub_core::provision::provision;
use hub_core::rabbit_api::RabbitApi;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use sqlx::PgPool;
use tokio::net::TcpListener;

/// The shipped catalog.
pub const CATALOG: &str = include_str!("../../policy/catalog.toml");

const BROKER: &str = "127.0.0.1:5672";
const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const API: &str = "http://127.0.0.1:15672";
const PREFIX: &str = "hub-t-";
const STALE_SECS: i64 = 2 * 3_600;

/// Party users are global in RabbitMQ (permissions are per vhost), so every
/// test uses the same password per party and provisioning stays idempotent.
#[must_use]
pub fn party_password(party: &str) -> String {
    format!("test-password-of-{party}")
}

/// The bearer token of a party in tests.
#[must_use]
pub fn party_token(party: &str) -> String {
    format!("test-token-of-{party}-0123456789")
}

/// The admin token in tests.
pub const ADMIN_TOKEN: &str = "test-token-of-admin-0123456789";
/// Token of the viewer `vera`.
pub const VIEWER_TOKEN: &str = "test-token-of-viewer-vera-0123456789";
/// Token of the operator `otto`.
pub const OPERATOR_TOKEN: &str = "test-token-of-operator-otto-0123456789";
/// Token of the privacy officer `pia`.
pub const PRIVACY_OFFICER_TOKEN: &str = "test-token-of-privacy-officer-pia-0123456789";

/// Synthetic personnel numbers with a `DossierService` token in tests:
/// employees whose dossiers the sample hire events create (seeds 1-20), staff
/// who get grants, and issued identities for next of kin.
#[must_use]
pub fn dossier_users() -> Vec<String> {
    (1..=20)
        .map(|n| format!("P{:07}", 1_000_000 + n))
        .chain((1..=20).map(|n| format!("P{:07}", 2_000_000 + n)))
        .chain((1..=3).map(|n| format!("NOK-{n:04}")))
        .collect()
}

/// The `DossierService` token of a person in [`dossier_users`].
#[must_use]
pub fn dossier_token(personnel_number: &str) -> String {
    format!("test-token-of-person-{personnel_number}-0123456789")
}

/// One test's slice of the real servers.
pub struct TestEnv {
    /// Unique id (`<unix seconds>-<random>`).
    pub id: String,
    /// The vhost (`hub-t-<id>`).
    pub vhost: String,
    /// Broker config (hub's own user `guest`, the test vhost).
    pub amqp: AmqpConfig,
    /// Database config (`hub_t_<id>`).
    pub database: DatabaseConfig,
    /// Management API config.
    pub rabbit_api: RabbitApiConfig,
    /// Management API client.
    pub api: RabbitApi,
    /// The catalog in use.
    pub catalog: Arc<Catalog>,
    /// Pseudonym key.
    pub key: PseudonymKey,
    cleaned: bool,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv").field("id", &self.id).finish()
    }
}

fn database_name(id: &str) -> String {
    format!("hub_t_{}", id.replace('-', "_"))
}

impl TestEnv {
    /// A fresh vhost and database with the shipped catalog, migrated and
    /// provisioned (party users included).
    pub async fn new() -> Self {
        Self::with_catalog(CATALOG).await
    }

    /// The same with another catalog text.
    pub async fn with_catalog(catalog: &str) -> Self {
        Self::with(catalog, |_| {}).await
    }

    /// A fresh environment whose broker settings (queue limits, delivery
    /// limit, prefetch) `adjust` changes before the queues are declared.
    pub async fn with(catalog: &str, adjust: impl FnOnce(&mut AmqpConfig)) -> Self {
        let mut env = Self::reserve(catalog).await;
        adjust(&mut env.amqp);
        hub_core::db::migrate(&env.database)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        env.provision().await;
        env
    }

    /// Names for a vhost and a database without creating either (for
    /// commands that must start from nothing, such as `hub demo`).
    pub async fn empty() -> Self {
        Self::reserve(CATALOG).await
    }

    async fn reserve(catalog: &str) -> Self {
        hub_core::install_crypto_provider();
        // HUB_TEST_LOG=<filter> shows the in-process services' logs.
        if let Ok(filter) = std::env::var("HUB_TEST_LOG") {
            let _ = hub_core::telemetry::init(&hub_core::config::TelemetryConfig {
                format: hub_core::config::LogFormat::Human,
                filter,
            });
        }
        let catalog =
            Arc::new(Catalog::from_toml(catalog).unwrap_or_else(|e| panic!("test catalog: {e}")));
        let now = chrono::Utc::now().timestamp();
        let id = format!("{now}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let vhost = format!("{PREFIX}{id}");
        let amqp = AmqpConfig {
            url: format!("amqp://guest:guest@{BROKER}/{vhost}"),
            ..AmqpConfig::default()
        };
        let database = DatabaseConfig {
            url: format!("postgres://postgres@127.0.0.1:5432/{}", database_name(&id)),
            max_connections: 5,
            ..DatabaseConfig::default()
        };
        let rabbit_api = RabbitApiConfig {
            url: API.to_owned(),
        };
        let api = RabbitApi::new(API, "guest", "guest").unwrap();
        remove_stale(&api, now).await;
        Self {
            id,
            vhost,
            amqp,
            database,
            rabbit_api,
            api,
            catalog,
            key: PseudonymKey::new(b"test-pseudonym-key-0123456789".to_vec()).unwrap(),
            cleaned: false,
        }
    }

    /// Declares the topology and creates the party users in this vhost.
    pub async fn provision(&self) {
        let passwords: BTreeMap<String, String> = self
            .catalog
            .parties()
            .map(|p| (p.id.clone(), party_password(&p.id)))
            .collect();
        provision(
            &self.amqp,
            &self.api,
            &self.catalog,
            &self.hub_config().topology(),
            &passwords,
        )
        .await
        .unwrap_or_else(|e| panic!("provisioning {}: {e}", self.vhost));
    }

    /// The hub's configuration for this environment.
    #[must_use]
    pub fn hub_config(&self) -> HubConfig {
        let mut pairs: Vec<(String, String)> = self
            .catalog
            .parties()
            .map(|p| (p.id.clone(), party_token(&p.id)))
            .collect();
        pairs.push(("admin".to_owned(), ADMIN_TOKEN.to_owned()));
        let mut config = HubConfig {
            amqp: self.amqp.clone(),
            database: self.database.clone(),
            rabbit_api: self.rabbit_api.clone(),
            catalog: self.catalog.clone(),
            pseudonym_key: self.key.clone(),
            credentials: Credentials::new(pairs)
                .unwrap()
                .with_certificate_identities(self.catalog.parties().map(|p| p.id.clone())),
            operators: hub_operator::Operators::new([
                ("vera", hub_operator::Role::Viewer, VIEWER_TOKEN),
                ("otto", hub_operator::Role::Operator, OPERATOR_TOKEN),
                (
                    "pia",
                    hub_operator::Role::PrivacyOfficer,
                    PRIVACY_OFFICER_TOKEN,
                ),
            ])
            .unwrap(),
            max_grpc_message_bytes: 1024 * 1024,
            tls: None,
            retry: RetryPolicy {
                min_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(500),
                max_elapsed: Duration::from_secs(20),
            },
            purge_interval: Duration::from_secs(1),
            grace: Duration::from_secs(10),
            dossier_settings: Default::default(),
            // Tests that use the console ask for one (`with_console`).
            console: None,
        };
        config.dossier_settings.users = Credentials::new(
            dossier_users()
                .into_iter()
                .map(|n| (n.clone(), dossier_token(&n))),
        )
        .unwrap();
        config
    }

    /// `config` with the operator's console on an ephemeral port of
    /// loopback, bound now; returns it with the console's base URL.
    #[must_use]
    pub fn with_console(&self, mut config: HubConfig) -> (HubConfig, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.console = Some(hub_operator::ConsoleSettings::prebound(listener));
        (config, url)
    }

    /// Starts `components` in this process on an ephemeral gRPC port.
    pub async fn start(&self, components: &[Component]) -> Running {
        self.start_with(self.hub_config(), components).await
    }

    /// Starts `components` with a modified configuration.
    pub async fn start_with(&self, config: HubConfig, components: &[Component]) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        start(&config, components, Some(listener), Shutdown::new())
            .await
            .unwrap_or_else(|e| panic!("starting the hub: {e:#}"))
    }

    /// A pool on this test's database.
    pub async fn pool(&self) -> PgPool {
        hub_core::db::connect(&self.database).await.unwrap()
    }

    /// An AMQP URL for `user` with its test password in this vhost.
    #[must_use]
    pub fn url_as(&self, user: &str) -> String {
        format!(
            "amqp://{user}:{}@{BROKER}/{}",
            party_password(user),
            self.vhost
        )
    }

    /// Removes the vhost and the database.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        remove(&self.api, &self.vhost, &database_name(&self.id)).await;
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let vhost = self.vhost.clone();
        let database = database_name(&self.id);
        // Also runs when a test panicked; a runtime of its own, because the
        // test's runtime may be gone.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    if let Ok(api) = RabbitApi::new(API, "guest", "guest") {
                        remove(&api, &vhost, &database).await;
                    }
                });
            }
        })
        .join();
    }
}

async fn remove(api: &RabbitApi, vhost: &str, database: &str) {
    let _ = api.delete_vhost(vhost).await;
    if let Ok(pool) = sqlx::PgPool::connect(ADMIN_DB).await {
        let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// Removes vhosts and databases of runs that ended without cleaning up.
async fn remove_stale(api: &RabbitApi, now: i64) {
    let stale = |name: &str, prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split(['-', '_']).next())
            .and_then(|ts| ts.parse::<i64>().ok())
            .is_some_and(|ts| now - ts > STALE_SECS)
    };
    if let Ok(vhosts) = api.vhosts().await {
        for vhost in vhosts.iter().filter(|v| stale(v, PREFIX)) {
            let _ = api.delete_vhost(vhost).await;
        }
    }
    if let Ok(pool) = sqlx::PgPool::connect(ADMIN_DB).await {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'hub\\_t\\_%'")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
        for name in names.iter().filter(|n| stale(n, "hub_t_")) {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&pool)
                .await;
        }
        pool.close().await;
    }
}
