//! PostgreSQL: the pool, migrations, the transaction helper, and the one
//! function that turns SQLSTATE codes into what a consumer should do.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::DatabaseConfig;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// What went wrong with the database, from the caller's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbFailure {
    /// The database is unreachable, restarting, overloaded or the
    /// transaction lost a race: try again later.
    Transient,
    /// A unique constraint was hit: the row is already there.
    UniqueViolation,
    /// Anything else: retrying will not help.
    Permanent,
}

/// Classifies a sqlx error by kind and SQLSTATE.
#[must_use]
pub fn classify(error: &sqlx::Error) -> DbFailure {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => DbFailure::Transient,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("23505") => DbFailure::UniqueViolation,
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "40001"
                    || code == "40P01"
                    || code == "55P03" =>
            {
                DbFailure::Transient
            }
            _ => DbFailure::Permanent,
        },
        _ => DbFailure::Permanent,
    }
}

/// Why the database could not be used at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("HUB_DATABASE_URL `{url}` is not a PostgreSQL URL: {detail}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// The parse error.
        detail: String,
    },
    /// The server did not answer.
    #[error(
        "PostgreSQL is not reachable at {url} ({detail}). Start it (Debian: `pg_ctlcluster 15 main start`; Docker: `docker compose up -d postgres`) or set HUB_DATABASE_URL"
    )]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// The connection error.
        detail: String,
    },
    /// The database could not be created or migrated.
    #[error("PostgreSQL at {url}: {detail}")]
    Setup {
        /// The URL, password redacted.
        url: String,
        /// What failed.
        detail: String,
    },
}

/// The innermost cause of a connection error, without repeats.
fn unreachable_detail(error: &sqlx::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Opens a pool; fails fast with a readable error when the server is down.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, ConnectError> {
    connect_keeping(config, 0).await
}

/// Opens a pool that keeps at least `min_connections` open, even when idle,
/// so that a burst after a quiet spell does not wait for new connections.
pub async fn connect_keeping(
    config: &DatabaseConfig,
    min_connections: u32,
) -> Result<PgPool, ConnectError> {
    crate::install_crypto_provider();
    let url = config.redacted_url();
    let options = PgConnectOptions::from_str(&config.url).map_err(|e| ConnectError::BadUrl {
        url: url.clone(),
        detail: e.to_string(),
    })?;
    let options = options
        .log_statements(tracing::log::LevelFilter::Trace)
        .options([
            ("lock_timeout", format!("{}ms", config.lock_timeout_ms)),
            (
                "statement_timeout",
                format!("{}ms", config.statement_timeout_ms),
            ),
        ]);
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(min_connections.min(config.max_connections))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| ConnectError::Unreachable {
            url,
            detail: unreachable_detail(&e),
        })
}

/// Creates the database of `config` when it does not exist, then applies
/// the migrations.
pub async fn migrate(config: &DatabaseConfig) -> Result<(), ConnectError> {
    let url = config.redacted_url();
    let options = PgConnectOptions::from_str(&config.url).map_err(|e| ConnectError::BadUrl {
        url: url.clone(),
        detail: e.to_string(),
    })?;
    let database = options.get_database().unwrap_or("postgres").to_owned();
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .map_err(|e| ConnectError::Unreachable {
            url: url.clone(),
            detail: unreachable_detail(&e),
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| ConnectError::Setup {
                url: url.clone(),
                detail: e.to_string(),
            })?;
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %database, "database created"),
            // Another process created it at the same moment.
            Err(e) if matches!(classify(&e), DbFailure::UniqueViolation) => {}
            Err(e) => {
                return Err(ConnectError::Setup {
                    url,
                    detail: format!("cannot create database {database}: {e}"),
                });
            }
        }
    }
    let _ = conn.close().await;
    let pool = connect(config).await?;
    MIGRATOR.run(&pool).await.map_err(|e| ConnectError::Setup {
        url: url.clone(),
        detail: format!("migrations failed: {e}"),
    })?;
    pool.close().await;
    Ok(())
}

/// Runs `$body` in a transaction: commit when it returns `Ok`, roll back
/// when it returns `Err`. `$tx` is a `&mut Transaction` inside the body.
///
/// ```ignore
/// let n = with_tx!(pool, tx, {
///     sqlx::query("...").execute(&mut **tx).await?;
///     Ok::<_, sqlx::Error>(1)
/// })?;
/// ```
#[macro_export]
macro_rules! with_tx {
    ($pool:expr, $tx:ident, $body:block) => {{
        let mut transaction = $pool.begin().await?;
        let result = {
            let $tx = &mut transaction;
            async { $body }.await
        };
        match result {
            Ok(value) => {
                transaction.commit().await?;
                Ok(value)
            }
            Err(error) => {
                let _ = transaction.rollback().await;
                Err(error)
            }
        }
    }};
}
