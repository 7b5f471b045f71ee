//! [`Ops`]: what operators can do, whichever front end they use (gRPC for
//! `hubctl`, the web console). Every method takes the authenticated
//! operator and checks the role first, so a front end cannot forget to; the
//! decision itself is [`crate::auth::Role::may`]. The methods live next to
//! their subject: `overview.rs`, `dead_letters.rs`, `replay.rs`,
//! `search.rs`.

use std::sync::Arc;

use hub_core::amqp::publisher::Publisher;
use hub_core::health::Health;
use hub_core::rabbit_api::RabbitApi;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, PseudonymKey};
use sqlx::PgPool;
use tokio_util::task::TaskTracker;

use crate::auth::{OperatorUser, Operators};

/// The operator's state, shared by both front ends. Cheap to share behind
/// an `Arc`.
pub struct Ops {
    pub(crate) pool: PgPool,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) key: PseudonymKey,
    pub(crate) operators: Operators,
    pub(crate) rabbit: RabbitApi,
    pub(crate) vhost: String,
    pub(crate) health: Health,
    pub(crate) publisher: Arc<Publisher>,
    /// The AMQP user the hub publishes as; the router trusts `x-hub-source`
    /// only from it.
    pub(crate) hub_user: String,
    pub(crate) shutdown: Shutdown,
    /// Running retry jobs, awaited on shutdown.
    pub(crate) jobs: TaskTracker,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("vhost", &self.vhost).finish()
    }
}

/// One line of the audit log. Never personal data: subjects appear as
/// pseudonyms, messages and dead letters as ids.
#[derive(Debug)]
pub(crate) struct Audit<'a> {
    pub(crate) action: &'a str,
    pub(crate) subject_ref: Option<&'a str>,
    pub(crate) reason: &'a str,
    pub(crate) detail: &'a str,
}

impl Ops {
    /// The configured operators.
    #[must_use]
    pub fn operators(&self) -> &Operators {
        &self.operators
    }

    /// The catalog in force.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The components of this process.
    #[must_use]
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Records what `user` did. Callers that must not act without a record
    /// (a reveal, a search) write it first, in the same transaction as the
    /// effect where there is one.
    pub(crate) async fn audit<'e, E: sqlx::PgExecutor<'e>>(
        executor: E,
        user: &OperatorUser,
        entry: Audit<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (actor, role, action, subject_ref, reason, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(entry.action)
        .bind(entry.subject_ref)
        .bind(entry.reason.chars().take(500).collect::<String>())
        .bind(entry.detail.chars().take(1_000).collect::<String>())
        .execute(executor)
        .await
        .map(drop)
    }

    /// Records a console login or logout.
    pub async fn audit_session(
        &self,
        user: &OperatorUser,
        action: &str,
    ) -> Result<(), sqlx::Error> {
        Self::audit(
            &self.pool,
            user,
            Audit {
                action,
                subject_ref: None,
                reason: "",
                detail: "console",
            },
        )
        .await
    }
}
