//! The contract's exchanges and queues, declared idempotently. Every queue
//! argument is set here, once, with the reason.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::envelope::{DEAD_EXCHANGE, EGRESS_EXCHANGE, INGRESS_EXCHANGE, ROUTER_QUEUE, dead_queue};

/// Settings of the queues.
#[derive(Clone, Debug)]
pub struct TopologySettings {
    /// Deliveries before the broker dead-letters a message.
    pub delivery_limit: u32,
    /// Longest a work queue may grow; beyond it publishers get a nack.
    pub max_length: u32,
    /// How long dead letters are kept at most.
    pub dead_letter_ttl: Duration,
}

/// The work queues of the contract: the router's input and every recipient
/// queue of the catalog.
#[must_use]
pub fn work_queues<'a>(recipient_queues: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut queues = vec![ROUTER_QUEUE.to_owned()];
    queues.extend(recipient_queues.into_iter().map(str::to_owned));
    queues
}

fn arg_str(table: &mut FieldTable, key: &str, value: &str) {
    table.insert(
        ShortString::from(key),
        AMQPValue::LongString(LongString::from(value)),
    );
}

fn arg_int(table: &mut FieldTable, key: &str, value: i64) {
    table.insert(ShortString::from(key), AMQPValue::LongLongInt(value));
}

/// Arguments of a work queue.
#[must_use]
pub fn work_queue_arguments(queue: &str, settings: &TopologySettings) -> FieldTable {
    let mut args = FieldTable::default();
    // Quorum queues: replicated, durable, and they count deliveries.
    arg_str(&mut args, "x-queue-type", "quorum");
    // A message that keeps failing (a poison message) stops being redelivered.
    arg_int(
        &mut args,
        "x-delivery-limit",
        i64::from(settings.delivery_limit),
    );
    // Where it goes then: its own dead-letter queue, never back to a work
    // queue, so no dead-letter cycle can form.
    arg_str(&mut args, "x-dead-letter-exchange", DEAD_EXCHANGE);
    arg_str(&mut args, "x-dead-letter-routing-key", &dead_queue(queue));
    // The broker keeps a message until the dead-letter queue confirmed it.
    arg_str(&mut args, "x-dead-letter-strategy", "at-least-once");
    // Required by at-least-once; a full queue nacks publishers instead of
    // dropping the oldest message.
    arg_str(&mut args, "x-overflow", "reject-publish");
    arg_int(&mut args, "x-max-length", i64::from(settings.max_length));
    args
}

/// Arguments of a dead-letter queue.
#[must_use]
pub fn dead_queue_arguments(settings: &TopologySettings) -> FieldTable {
    let mut args = FieldTable::default();
    arg_str(&mut args, "x-queue-type", "quorum");
    // Dead letters hold personal data: they expire. No dead-letter exchange,
    // so expiry here is the end, and nothing cycles.
    let ttl = i64::try_from(settings.dead_letter_ttl.as_millis()).unwrap_or(i64::MAX);
    arg_int(&mut args, "x-message-ttl", ttl);
    arg_str(&mut args, "x-overflow", "reject-publish");
    arg_int(&mut args, "x-max-length", i64::from(settings.max_length));
    args
}

/// Declares exchanges, work queues, dead-letter queues and bindings.
/// Idempotent; fails when a queue exists with different arguments.
pub async fn declare<'a>(
    channel: &Channel,
    recipient_queues: impl IntoIterator<Item = &'a str>,
    settings: &TopologySettings,
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            INGRESS_EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            EGRESS_EXCHANGE.into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            DEAD_EXCHANGE.into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    let queue_options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    for queue in work_queues(recipient_queues) {
        let dead = dead_queue(&queue);
        channel
            .queue_declare(
                dead.as_str().into(),
                queue_options,
                dead_queue_arguments(settings),
            )
            .await?;
        channel
            .queue_bind(
                dead.as_str().into(),
                DEAD_EXCHANGE.into(),
                dead.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                queue.as_str().into(),
                queue_options,
                work_queue_arguments(&queue, settings),
            )
            .await?;
        let (exchange, key) = if queue == ROUTER_QUEUE {
            (INGRESS_EXCHANGE, "#")
        } else {
            (EGRESS_EXCHANGE, queue.as_str())
        };
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
