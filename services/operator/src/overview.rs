//! The overview: every hub queue with its counts, consumers and rates (from
//! the RabbitMQ management API), the broker's alarms, the components of this
//! process, and each queue-consuming service as the broker sees it (so a
//! router running in another process shows up too).

use chrono::{DateTime, Utc};
use hub_core::amqp::topology::work_queues;
use hub_core::envelope::{ROUTER_QUEUE, dead_queue};
use hub_core::rabbit_api::QueueInfo;

use crate::auth::{Action, OperatorUser};
use crate::error::OpError;
use crate::ops::Ops;

/// One queue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Queue {
    /// Name.
    pub name: String,
    /// Ready for delivery.
    pub ready: u64,
    /// Delivered, not yet acked.
    pub unacked: u64,
    /// Consumers attached.
    pub consumers: u64,
    /// Publishes per second.
    pub publish_rate: f64,
    /// Deliveries per second.
    pub deliver_rate: f64,
}

/// One broker node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Running.
    pub running: bool,
    /// Memory alarm raised (publishers are blocked).
    pub memory_alarm: bool,
    /// Disk alarm raised (publishers are blocked).
    pub disk_alarm: bool,
}

/// A component or service and whether it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Name.
    pub name: String,
    /// Working normally.
    pub ready: bool,
    /// What it is doing.
    pub detail: String,
    /// Since when (components of this process only).
    pub since: Option<DateTime<Utc>>,
}

/// What the overview shows.
#[derive(Clone, Debug, Default)]
pub struct Overview {
    /// Work queues, then dead-letter queues.
    pub queues: Vec<Queue>,
    /// Broker nodes.
    pub nodes: Vec<Node>,
    /// Components of this process.
    pub components: Vec<Component>,
    /// Services as the broker sees them.
    pub services: Vec<Component>,
    /// Why the broker part is missing, if it is.
    pub broker_error: Option<String>,
}

impl Overview {
    /// True when a broker node has a resource alarm.
    #[must_use]
    pub fn alarm(&self) -> bool {
        self.nodes.iter().any(|n| n.memory_alarm || n.disk_alarm)
    }
}

fn queue(info: &QueueInfo) -> Queue {
    let rate = |r: Option<&hub_core::rabbit_api::Rate>| r.map_or(0.0, |r| r.rate);
    let stats = info.message_stats.as_ref();
    Queue {
        name: info.name.clone(),
        ready: info.messages_ready,
        unacked: info.messages_unacknowledged,
        consumers: info.consumers,
        publish_rate: rate(stats.and_then(|s| s.publish_details.as_ref())),
        deliver_rate: rate(stats.and_then(|s| s.deliver_get_details.as_ref())),
    }
}

/// A service is ready when each of its queues has a consumer.
fn service(name: &str, queues: &[&Queue]) -> Component {
    let idle: Vec<&str> = queues
        .iter()
        .filter(|q| q.consumers == 0)
        .map(|q| q.name.as_str())
        .collect();
    let detail = if queues.is_empty() {
        "its queues are not declared".to_owned()
    } else if idle.is_empty() {
        format!(
            "consuming {}",
            queues
                .iter()
                .map(|q| q.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!("no consumer on {}", idle.join(", "))
    };
    Component {
        name: name.to_owned(),
        ready: !queues.is_empty() && idle.is_empty(),
        detail,
        since: None,
    }
}

impl Ops {
    /// Queues, alarms and health. A management API that does not answer
    /// leaves the broker part empty with the reason; health is still shown.
    pub async fn overview(&self, user: &OperatorUser) -> Result<Overview, OpError> {
        user.require(Action::View)?;
        let components = self
            .health
            .snapshot()
            .into_iter()
            .map(|(name, state)| Component {
                name,
                ready: state.ready,
                detail: state.detail,
                since: Some(state.since),
            })
            .collect();
        let mut overview = Overview {
            components,
            ..Overview::default()
        };
        let (queues, nodes) =
            match tokio::try_join!(self.rabbit.queues(&self.vhost), self.rabbit.nodes()) {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(error = %error, "management api not available for the overview");
                    overview.broker_error = Some(error.to_string());
                    return Ok(overview);
                }
            };
        let work = work_queues(self.catalog.recipient_queues());
        let dead: Vec<String> = work.iter().map(|q| dead_queue(q)).collect();
        for name in work.iter().chain(&dead) {
            if let Some(info) = queues.iter().find(|q| &q.name == name) {
                overview.queues.push(queue(info));
            }
        }
        overview.nodes = nodes
            .into_iter()
            .map(|n| Node {
                name: n.name,
                running: n.running,
                memory_alarm: n.mem_alarm,
                disk_alarm: n.disk_free_alarm,
            })
            .collect();
        let find = |names: &[&str]| -> Vec<&Queue> {
            overview
                .queues
                .iter()
                .filter(|q| names.contains(&q.name.as_str()))
                .collect()
        };
        let dead_names: Vec<&str> = dead.iter().map(String::as_str).collect();
        overview.services = vec![
            service("router", &find(&[ROUTER_QUEUE])),
            service("dossier", &find(&["dossier.onboarding"])),
            service("dead-letter keeper", &find(&dead_names)),
        ];
        Ok(overview)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_without_consumers_is_not_ready() {
        let busy = Queue {
            name: "hub.router".to_owned(),
            consumers: 2,
            ..Queue::default()
        };
        let idle = Queue {
            name: "dead.hub.router".to_owned(),
            ..Queue::default()
        };
        assert!(service("router", &[&busy]).ready);
        let keeper = service("keeper", &[&busy, &idle]);
        assert!(!keeper.ready);
        assert_eq!(keeper.detail, "no consumer on dead.hub.router");
        assert!(!service("x", &[]).ready);
    }
}
