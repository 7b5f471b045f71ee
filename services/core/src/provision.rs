//! `hub provision`: the vhost, the topology of the contract, and an AMQP
//! user per party with least privilege, all derived from the catalog and
//! all idempotent.
//!
//! - producers may write only `hub.ingress`;
//! - each consumer may read only its own queues;
//! - nobody but the hub writes `hub.egress` or configures anything;
//! - no party gets a tag (so no `impersonator`: the broker refuses a forged
//!   `user_id`, and no management access).

use std::collections::BTreeMap;

use hub_policy::Catalog;

use crate::amqp::Amqp;
use crate::amqp::topology::{self, TopologySettings};
use crate::config::AmqpConfig;
use crate::envelope::INGRESS_EXCHANGE;
use crate::rabbit_api::RabbitApi;

/// What provisioning did.
#[derive(Clone, Debug, Default)]
pub struct ProvisionReport {
    /// The vhost.
    pub vhost: String,
    /// Queues declared (work and dead-letter).
    pub queues: Vec<String>,
    /// Users created or updated, with their permissions.
    pub users: Vec<UserGrant>,
    /// Parties skipped because no password was configured.
    pub skipped: Vec<String>,
}

/// The permissions of one party user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGrant {
    /// Party id = AMQP user.
    pub user: String,
    /// Configure regex.
    pub configure: String,
    /// Write regex.
    pub write: String,
    /// Read regex.
    pub read: String,
}

fn escape(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn alternatives(names: &[&str]) -> String {
    if names.is_empty() {
        "^$".to_owned()
    } else {
        format!(
            "^({})$",
            names
                .iter()
                .map(|n| escape(n))
                .collect::<Vec<_>>()
                .join("|")
        )
    }
}

/// The grants of every party that gets an AMQP user.
#[must_use]
pub fn grants(catalog: &Catalog) -> Vec<UserGrant> {
    catalog
        .parties()
        .filter(|p| !p.hub_service)
        .map(|p| UserGrant {
            user: p.id.clone(),
            configure: "^$".to_owned(),
            write: if catalog.is_producer(&p.id) {
                alternatives(&[INGRESS_EXCHANGE])
            } else {
                "^$".to_owned()
            },
            read: alternatives(&catalog.queues_of(&p.id)),
        })
        .collect()
}

/// Creates the vhost, declares the topology and creates the party users.
/// `passwords` maps party ids to passwords; parties without one are skipped
/// and reported.
pub async fn provision(
    amqp: &AmqpConfig,
    api: &RabbitApi,
    catalog: &Catalog,
    settings: &TopologySettings,
    passwords: &BTreeMap<String, String>,
) -> Result<ProvisionReport, String> {
    let vhost = amqp.vhost();
    api.put_vhost(&vhost).await.map_err(|e| e.to_string())?;
    let hub_user = amqp.user();
    api.put_permissions(&vhost, &hub_user, ".*", ".*", ".*")
        .await
        .map_err(|e| e.to_string())?;
    let connection = Amqp::connect(amqp, "hub-provision")
        .await
        .map_err(|e| e.to_string())?;
    let channel = connection.channel().await.map_err(|e| e.to_string())?;
    topology::declare(&channel, catalog.recipient_queues(), settings)
        .await
        .map_err(|e| {
            format!("declaring the topology failed (a queue may exist with other arguments): {e}")
        })?;
    let _ = channel.close(200, "provisioned".into()).await;
    connection.close().await;

    let mut report = ProvisionReport {
        vhost: vhost.clone(),
        ..ProvisionReport::default()
    };
    for queue in topology::work_queues(catalog.recipient_queues()) {
        report.queues.push(crate::envelope::dead_queue(&queue));
        report.queues.push(queue);
    }
    for grant in grants(catalog) {
        let Some(password) = passwords.get(&grant.user) else {
            report.skipped.push(grant.user.clone());
            continue;
        };
        api.put_user(&grant.user, password, "")
            .await
            .map_err(|e| e.to_string())?;
        api.put_permissions(
            &vhost,
            &grant.user,
            &grant.configure,
            &grant.write,
            &grant.read,
        )
        .await
        .map_err(|e| e.to_string())?;
        report.users.push(grant);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_the_catalog_with_least_privilege() {
        let catalog = Catalog::from_toml(include_str!("../../../policy/catalog.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let grants = grants(&catalog);
        let of = |user: &str| {
            grants
                .iter()
                .find(|g| g.user == user)
                .cloned()
                .unwrap_or_else(|| panic!("{user}"))
        };
        assert!(
            grants.iter().all(|g| g.user != "dossier"),
            "the hub's own service gets no party user"
        );
        assert_eq!(of("wens").write, "^(hub\\.ingress)$");
        assert_eq!(of("wens").read, "^$");
        assert_eq!(of("robidus").read, "^(processor\\.robidus)$");
        assert_eq!(of("future-smart").read, "^(processor\\.future-smart)$");
        assert_eq!(of("reintegration-tool").read, "^(reintegration\\.reports)$");
        assert!(grants.iter().all(|g| g.configure == "^$"));
        assert!(grants.iter().all(|g| !g.write.contains("egress")));
    }
}
