//! The consumer loop: manual acks, bounded in-process retries with
//! exponential backoff and jitter, dead-lettering with reasons, reconnection,
//! and a bounded drain on shutdown.
//!
//! A handler classifies each delivery: done (`Ack`), worth another try
//! (`Transient`: database or broker unavailable, timeouts) or never going
//! to work (`DeadLetter`: invalid payload, policy). Transient failures are
//! retried in process; when the budget is spent the message goes back to
//! the queue. On the last delivery the queue allows, the loop dead-letters
//! it itself (`retries_exhausted`, with the last error, attempts and failure
//! times) rather than let the broker do it without those facts; a process
//! that dies while holding it still ends with the broker's dead letter
//! (`x-death`, `delivery_limit`). Permanent failures are published to
//! `hub.dead` with their reason, confirmed, and only then acked. A handler
//! that panics counts as a transient failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio::sync::Semaphore;

use super::Amqp;
use super::headers::{get_i64, headers_of, set_i64, set_str};
use super::publisher::{PublishError, Publisher};
use crate::envelope::{self, DEAD_EXCHANGE};
use crate::health::Health;
use crate::shutdown::Shutdown;

/// What a handler decided about a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the effect is applied (or was already).
    Ack,
    /// Could work later: retry.
    Transient(String),
    /// Will never work: dead-letter now with this reason.
    DeadLetter {
        /// Machine-readable reason (`invalid_payload`).
        reason: String,
        /// Readable detail without personal data.
        detail: String,
    },
}

impl Outcome {
    /// A permanent failure.
    pub fn dead_letter(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::DeadLetter {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// Handles one delivery at a time; many run concurrently.
pub trait Handler: Send + Sync + 'static {
    /// Decides about a delivery. Must not ack it: the loop does.
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Outcome> + Send;
}

/// How long transient failures are retried in process.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub min_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// Total time spent waiting before giving the message back.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_total_delay(Some(self.max_elapsed))
            .without_max_times()
            .build()
    }
}

/// What a consumer consumes and how.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The queue.
    pub queue: String,
    /// The service name (for dead letters and logs).
    pub service: &'static str,
    /// Deliveries held at once; also the concurrency.
    pub prefetch: u16,
    /// Retry budget of transient failures.
    pub retry: RetryPolicy,
    /// How long shutdown waits for in-flight deliveries.
    pub grace: Duration,
}

/// Facts about a dead letter, written into its headers.
#[derive(Clone, Debug)]
pub struct DeadLetterInfo<'a> {
    /// Queue the message failed in.
    pub queue: &'a str,
    /// Service that gave up.
    pub service: &'a str,
    /// Machine-readable reason.
    pub reason: &'a str,
    /// Readable detail without personal data.
    pub detail: &'a str,
    /// Attempts made.
    pub attempts: u32,
    /// First failure.
    pub first_failure: DateTime<Utc>,
    /// Last failure.
    pub last_failure: DateTime<Utc>,
}

/// The properties of a message as the hub republishes it: everything but
/// `user_id` (which only its original publisher may set; it moves to
/// `x-hub-original-user-id`) and the cluster id, made persistent.
#[must_use]
pub fn republish_properties(original: &BasicProperties, headers: FieldTable) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(v) = original.content_type() {
        props = props.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        props = props.with_content_encoding(v.clone());
    }
    if let Some(v) = original.message_id() {
        props = props.with_message_id(v.clone());
    }
    if let Some(v) = original.kind() {
        props = props.with_type(v.clone());
    }
    if let Some(v) = original.timestamp() {
        props = props.with_timestamp(*v);
    }
    if let Some(v) = original.expiration() {
        props = props.with_expiration(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        props = props.with_correlation_id(v.clone());
    }
    if let Some(v) = original.app_id() {
        props = props.with_app_id(v.clone());
    }
    props
}

/// Publishes a failed message to `hub.dead` (routing key `dead.<queue>`)
/// with the reason headers, and waits for the confirm.
pub async fn publish_dead_letter(
    publisher: &Publisher,
    payload: &[u8],
    original: &BasicProperties,
    info: &DeadLetterInfo<'_>,
) -> Result<(), PublishError> {
    let mut headers = headers_of(original);
    if let Some(user) = original.user_id() {
        set_str(&mut headers, envelope::H_ORIGINAL_USER, user.as_str());
    }
    set_str(&mut headers, envelope::H_REASON, info.reason);
    let detail: String = info.detail.chars().take(1_000).collect();
    set_str(&mut headers, envelope::H_DETAIL, detail);
    set_i64(&mut headers, envelope::H_ATTEMPTS, i64::from(info.attempts));
    set_str(
        &mut headers,
        envelope::H_FIRST_FAILURE,
        info.first_failure.to_rfc3339(),
    );
    set_str(
        &mut headers,
        envelope::H_LAST_FAILURE,
        info.last_failure.to_rfc3339(),
    );
    set_str(&mut headers, envelope::H_ORIGIN_QUEUE, info.queue);
    set_str(&mut headers, envelope::H_SERVICE, info.service);
    let props = republish_properties(original, headers);
    publisher
        .publish(
            DEAD_EXCHANGE,
            &envelope::dead_queue(info.queue),
            payload,
            props,
        )
        .await
}

struct Context<H> {
    spec: ConsumerSpec,
    delivery_limit: u32,
    handler: Arc<H>,
    publisher: Arc<Publisher>,
    shutdown: Shutdown,
}

/// Consumes `spec.queue` until `shutdown` fires, reconnecting with backoff
/// whenever the channel is lost. Returns after the drain.
pub async fn run<H: Handler>(
    amqp: Amqp,
    publisher: Arc<Publisher>,
    spec: ConsumerSpec,
    handler: Arc<H>,
    health: Health,
    shutdown: Shutdown,
) {
    let component = format!("consumer {}", spec.queue);
    let ctx = Arc::new(Context {
        delivery_limit: amqp.config().delivery_limit,
        spec,
        handler,
        publisher,
        shutdown: shutdown.clone(),
    });
    let reconnect = || {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .without_max_times()
            .build()
    };
    let mut delays = reconnect();
    while !shutdown.is_cancelled() {
        match consume(&amqp, &ctx, &health, &component).await {
            Ok(()) => break,
            Err(error) => {
                health.set(&component, false, format!("reconnecting: {error}"));
                tracing::warn!(queue = %ctx.spec.queue, error = %error, "consumer lost its channel, reconnecting");
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
        // A session that got going resets the backoff.
        if health.snapshot().get(&component).is_some_and(|s| s.ready) {
            delays = reconnect();
        }
    }
    health.set(&component, false, "stopped");
    tracing::info!(queue = %ctx.spec.queue, "consumer stopped");
}

/// One consuming session on one channel. `Ok` means it ended because of
/// shutdown and drained; `Err` means the channel was lost.
async fn consume<H: Handler>(
    amqp: &Amqp,
    ctx: &Arc<Context<H>>,
    health: &Health,
    component: &str,
) -> Result<(), String> {
    let channel = amqp.channel().await.map_err(|e| e.to_string())?;
    channel
        .basic_qos(ctx.spec.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let tag = format!("{}-{}", ctx.spec.service, uuid::Uuid::new_v4().simple());
    let mut consumer = channel
        .basic_consume(
            ctx.spec.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    health.set(component, true, format!("consuming {}", ctx.spec.queue));
    tracing::info!(queue = %ctx.spec.queue, prefetch = ctx.spec.prefetch, "consuming");
    let permits = Arc::new(Semaphore::new(usize::from(ctx.spec.prefetch.max(1))));
    let lost = loop {
        let next = tokio::select! {
            next = consumer.next() => next,
            () = ctx.shutdown.cancelled() => break None,
        };
        match next {
            Some(Ok(delivery)) => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break Some("permit pool closed".to_owned());
                };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    process(&ctx, delivery).await;
                    drop(permit);
                });
            }
            Some(Err(error)) => break Some(error.to_string()),
            None => break Some("the broker cancelled the consumer".to_owned()),
        }
    };
    // On shutdown: stop fetching, then let in-flight deliveries finish and
    // ack (bounded). When the channel is lost their acks cannot reach the
    // broker anyway (it redelivers them), so reconnect at once.
    if lost.is_none() {
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        let all = u32::from(ctx.spec.prefetch.max(1));
        if tokio::time::timeout(ctx.spec.grace, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(queue = %ctx.spec.queue, grace = ?ctx.spec.grace, "grace period over with deliveries in flight; the broker redelivers them");
        }
    }
    let _ = channel.close(200, "consumer done".into()).await;
    match lost {
        None => Ok(()),
        Some(error) => Err(error),
    }
}

async fn process<H: Handler>(ctx: &Context<H>, delivery: Delivery) {
    let queue = ctx.spec.queue.as_str();
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut delays = ctx.spec.retry.delays();
    let mut attempts = 0u32;
    let mut first_failure: Option<DateTime<Utc>> = None;
    let outcome = loop {
        attempts += 1;
        // A panicking handler is a bug, not a verdict on the message: treat
        // it as transient, so the delivery limit eventually parks it.
        let outcome = match AssertUnwindSafe(ctx.handler.handle(&delivery))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!(queue, message_id = %message_id, "handler panicked; treated as a transient failure");
                Outcome::Transient("the handler panicked".to_owned())
            }
        };
        let Outcome::Transient(detail) = &outcome else {
            break outcome;
        };
        first_failure.get_or_insert_with(Utc::now);
        metrics::counter!("hub_retries_total", "queue" => queue.to_owned()).increment(1);
        let Some(delay) = delays.next().filter(|_| !ctx.shutdown.is_cancelled()) else {
            break outcome;
        };
        tracing::warn!(queue, message_id = %message_id, attempt = attempts, detail = %detail, delay_ms = delay.as_millis() as u64, "transient failure, retrying");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = ctx.shutdown.cancelled() => break outcome,
        }
    };
    let acked = match outcome {
        Outcome::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Outcome::DeadLetter { reason, detail } => {
            let now = Utc::now();
            let info = DeadLetterInfo {
                queue,
                service: ctx.spec.service,
                reason: &reason,
                detail: &detail,
                attempts,
                first_failure: first_failure.unwrap_or(now),
                last_failure: now,
            };
            match publish_dead_letter(&ctx.publisher, &delivery.data, &delivery.properties, &info)
                .await
            {
                Ok(()) => {
                    metrics::counter!("hub_dead_letters_total", "queue" => queue.to_owned(), "reason" => reason.clone()).increment(1);
                    tracing::info!(queue, message_id = %message_id, reason = %reason, detail = %detail, "dead-lettered");
                    delivery.acker.ack(BasicAckOptions::default()).await
                }
                Err(error) => {
                    tracing::warn!(queue, message_id = %message_id, error = %error, "could not dead-letter, returning the message to the queue");
                    delivery.acker.nack(requeue()).await
                }
            }
        }
        Outcome::Transient(detail) => {
            let returns = get_i64(
                delivery.properties.headers().as_ref(),
                envelope::H_DELIVERY_COUNT,
            )
            .unwrap_or(0);
            if returns + 1 >= i64::from(ctx.delivery_limit) && !ctx.shutdown.is_cancelled() {
                // The queue will not deliver it again: park it now, with the
                // reason, instead of letting the broker drop the facts.
                let now = Utc::now();
                let detail = format!("{detail} (still failing after {} deliveries)", returns + 1);
                let info = DeadLetterInfo {
                    queue,
                    service: ctx.spec.service,
                    reason: envelope::reason::RETRIES_EXHAUSTED,
                    detail: &detail,
                    attempts: attempts + u32::try_from(returns).unwrap_or(0),
                    first_failure: first_failure.unwrap_or(now),
                    last_failure: now,
                };
                match publish_dead_letter(
                    &ctx.publisher,
                    &delivery.data,
                    &delivery.properties,
                    &info,
                )
                .await
                {
                    Ok(()) => {
                        metrics::counter!("hub_dead_letters_total", "queue" => queue.to_owned(), "reason" => envelope::reason::RETRIES_EXHAUSTED).increment(1);
                        tracing::warn!(queue, message_id = %message_id, deliveries = returns + 1, "retries exhausted, dead-lettered");
                        delivery.acker.ack(BasicAckOptions::default()).await
                    }
                    Err(_) => delivery.acker.nack(requeue()).await,
                }
            } else {
                tracing::warn!(queue, message_id = %message_id, attempts, deliveries = returns + 1, detail = %detail, "retries spent, returning the message to the queue");
                delivery.acker.nack(requeue()).await
            }
        }
    };
    if let Err(error) = acked {
        tracing::warn!(queue, message_id = %message_id, error = %error, "ack failed; the broker redelivers the message");
    }
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        multiple: false,
    }
}
