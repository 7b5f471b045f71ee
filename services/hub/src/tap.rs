//! A tap on an exchange (usually `hub.egress`): an exclusive, server-named
//! queue bound with the routing keys of some queues, so it receives an
//! identical copy of what crosses them. For the demo and the tests; never for production.

use std::time::Duration;

use futures_util::StreamExt;
use hub_core::amqp::Amqp;
use hub_core::envelope::EGRESS_EXCHANGE;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};

/// Copies of what crosses some recipient queues.
pub struct Tap {
    channel: Channel,
    consumer: Consumer,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

impl Tap {
    /// Binds a new exclusive queue to `hub.egress` for each of `queues`.
    pub async fn new(amqp: &Amqp, queues: &[&str]) -> anyhow::Result<Self> {
        Self::on(amqp, EGRESS_EXCHANGE, queues).await
    }

    /// Binds a new exclusive queue to `exchange` with each routing key.
    pub async fn on(amqp: &Amqp, exchange: &str, keys: &[&str]) -> anyhow::Result<Self> {
        let channel = amqp.channel().await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        for key in keys {
            channel
                .queue_bind(
                    queue.name().clone(),
                    exchange.into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "tap".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Self { channel, consumer })
    }

    /// The next copy, or `None` when none arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Delivery> {
        match tokio::time::timeout(wait, self.consumer.next()).await {
            Ok(Some(Ok(delivery))) => Some(delivery),
            _ => None,
        }
    }

    /// Closes the channel; the queue goes with it.
    pub async fn close(self) {
        let _ = self.channel.close(200, "tap done".into()).await;
    }
}
