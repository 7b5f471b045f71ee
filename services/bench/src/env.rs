//! A vhost and a database of the benchmark's own, provisioned like the
//! hub's, removed at the end.

use std::collections::BTreeMap;
use std::sync::Arc;

use hub_core::config::{AmqpConfig, DatabaseConfig};
use hub_core::provision::provision;
use hub_core::rabbit_api::RabbitApi;
use hub_policy::Catalog;

/// The URL of `vhost` on `broker`, as the hub's own user (names made by the
/// bench need no escaping).
fn amqp_url(broker: &str, vhost: &str) -> String {
    format!("amqp://guest:guest@{broker}/{vhost}")
}

/// The benchmark's slice of the servers.
pub struct BenchEnv {
    pub vhost: String,
    /// `host:port` of the broker.
    broker: String,
    pub amqp: AmqpConfig,
    pub database: DatabaseConfig,
    pub api: RabbitApi,
    pub catalog: Arc<Catalog>,
    pub catalog_path: std::path::PathBuf,
}

impl BenchEnv {
    pub async fn create(
        catalog_path: &std::path::Path,
        broker: &str,
        postgres: &str,
        api: &str,
    ) -> anyhow::Result<Self> {
        let catalog = Arc::new(Catalog::load(catalog_path)?);
        let id = format!(
            "{}-{}",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let vhost = format!("hub-bench-{id}");
        let amqp = AmqpConfig {
            url: amqp_url(broker, &vhost),
            ..AmqpConfig::default()
        };
        let database = DatabaseConfig {
            url: format!("{postgres}/hub_bench_{}", id.replace('-', "_")),
            max_connections: 10,
            ..DatabaseConfig::default()
        };
        let api = RabbitApi::new(api, "guest", "guest").map_err(anyhow::Error::msg)?;
        hub_core::db::migrate(&database).await?;
        // Party users are global in the broker and shared with anything else
        // running (tests): the benchmark leaves them alone and uses the
        // hub's own user, publishing with x-hub-source as the gateway does.
        let passwords: BTreeMap<String, String> = BTreeMap::new();
        let settings = hub_core::amqp::topology::TopologySettings {
            delivery_limit: amqp.delivery_limit,
            max_length: 1_000_000,
            dead_letter_ttl: catalog.dead_letter_retention(),
        };
        let mut amqp = amqp;
        amqp.max_length = settings.max_length;
        let provisioned = provision(&amqp, &api, &catalog, &settings, &passwords).await;
        let env = Self {
            vhost,
            broker: broker.to_owned(),
            amqp,
            database,
            api,
            catalog,
            catalog_path: catalog_path.to_path_buf(),
        };
        if let Err(error) = provisioned {
            // Leave nothing behind: the database is already there.
            env.remove().await;
            anyhow::bail!(error);
        }
        Ok(env)
    }

    /// The vhost of the relay (see [`crate::relay`]).
    fn relay_vhost(&self) -> String {
        format!("{}-relay", self.vhost)
    }

    /// Creates the relay's vhost (the relay declares its topology) and
    /// returns its AMQP URL.
    pub async fn relay_url(&self) -> anyhow::Result<String> {
        let vhost = self.relay_vhost();
        self.api
            .put_vhost(&vhost)
            .await
            .map_err(anyhow::Error::msg)?;
        self.api
            .put_permissions(&vhost, &self.amqp.user(), ".*", ".*", ".*")
            .await
            .map_err(anyhow::Error::msg)?;
        Ok(amqp_url(&self.broker, &vhost))
    }

    pub async fn remove(&self) {
        let _ = self.api.delete_vhost(&self.relay_vhost()).await;
        let _ = self.api.delete_vhost(&self.vhost).await;
        let name = self
            .database
            .url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let admin = self
            .database
            .url
            .rsplit_once('/')
            .map(|(base, _)| format!("{base}/postgres"))
            .unwrap_or_default();
        if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}
