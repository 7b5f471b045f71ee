//! The dead-letter keeper: drains every `dead.<queue>` into `dead_letters`,
//! exactly once per dead letter (a unique key over queue, message id,
//! failure time and payload), and purges payloads whose retention ended.
//!
//! Two kinds of dead letters arrive: those the hub made (a rejection or a
//! permanent failure, with `x-hub-reason`, `x-hub-detail`, attempts and
//! failure times) and those the broker made (delivery limit, expiry, with
//! `x-death`). Both are stored with a reason, an origin queue and the
//! envelope headers; producer-defined headers are not kept.
//!
//! The producer recorded (`source`) is the one a retry names in
//! `x-hub-source`, so it is established as the router does: the
//! broker-validated user that published the message, or, only when that is
//! the hub itself (gateway, egress copies, earlier retries), the
//! `x-hub-source` the hub set. A party that forged `x-hub-source` is
//! recorded as itself, so a retry cannot launder the forgery.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hub_core::amqp::consumer::{Handler, Outcome};
use hub_core::amqp::headers::{get_i64, get_str, short};
use hub_core::envelope;
use hub_core::shutdown::Shutdown;
use hub_policy::Catalog;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// Drains one dead-letter queue.
pub struct Keeper {
    pool: PgPool,
    catalog: Arc<Catalog>,
    dead_queue: String,
    hub_user: String,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("dead_queue", &self.dead_queue)
            .finish()
    }
}

/// What the broker wrote into `x-death` (the most recent entry).
struct Death {
    queue: String,
    reason: String,
    count: i64,
    time: Option<DateTime<Utc>>,
}

fn amqp_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::LongString(s) => {
            Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(s) => Value::String(s.to_string()),
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::LongLongInt(v) => json!(v),
        AMQPValue::LongInt(v) => json!(v),
        AMQPValue::LongUInt(v) => json!(v),
        AMQPValue::ShortInt(v) => json!(v),
        AMQPValue::ShortUInt(v) => json!(v),
        AMQPValue::ShortShortInt(v) => json!(v),
        AMQPValue::ShortShortUInt(v) => json!(v),
        AMQPValue::Timestamp(v) => json!(v),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(amqp_to_json).collect())
        }
        AMQPValue::FieldTable(table) => table_to_json(table),
        _ => Value::Null,
    }
}

fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.to_string(), amqp_to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn last_death(headers: Option<&FieldTable>) -> Option<Death> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    Some(Death {
        queue: get_str(Some(first), "queue").unwrap_or_default().to_owned(),
        reason: get_str(Some(first), "reason")
            .unwrap_or("unknown")
            .to_owned(),
        count: get_i64(Some(first), "count").unwrap_or(1),
        time: get_i64(Some(first), "time").and_then(|t| DateTime::from_timestamp(t, 0)),
    })
}

/// The envelope headers worth keeping: the hub's own, trace context and the
/// broker's death records; never producer-defined headers.
fn kept_headers(headers: Option<&FieldTable>) -> Value {
    let mut out = Map::new();
    if let Some(table) = headers {
        for (key, value) in table.inner() {
            let key = key.as_str();
            if key.starts_with("x-hub-")
                || key.starts_with("x-death")
                || key.starts_with("x-first-death")
                || key == envelope::H_TRACEPARENT
                || key == envelope::H_DELIVERY_COUNT
            {
                out.insert(key.to_owned(), amqp_to_json(value));
            }
        }
    }
    Value::Object(out)
}

fn rfc3339(headers: Option<&FieldTable>, name: &str) -> Option<DateTime<Utc>> {
    get_str(headers, name)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Who produced a dead-lettered message: its publisher as the broker
/// validated it (kept in `x-hub-original-user-id` when the hub dead-lettered
/// it, in `user_id` when the broker did), or, when that publisher is the hub,
/// the producer the hub named. `None` when the publisher is unknown.
fn producer<'a>(
    hub_user: &str,
    headers: Option<&'a FieldTable>,
    user_id: Option<&'a str>,
) -> Option<&'a str> {
    match get_str(headers, envelope::H_ORIGINAL_USER).or(user_id) {
        Some(user) if user == hub_user => get_str(headers, envelope::H_SOURCE),
        other => other,
    }
}

impl Keeper {
    /// A keeper of `dead_queue`; `hub_user` is the AMQP user the hub
    /// publishes as.
    #[must_use]
    pub fn new(pool: PgPool, catalog: Arc<Catalog>, dead_queue: String, hub_user: String) -> Self {
        Self {
            pool,
            catalog,
            dead_queue,
            hub_user,
        }
    }

    /// How long a dead letter from `origin` keeps its payload: the catalog's
    /// dead-letter retention, or the route's retention when that is shorter.
    fn retention(&self, origin: &str) -> Duration {
        let dead = self.catalog.dead_letter_retention();
        self.catalog
            .routes()
            .iter()
            .filter(|r| r.queue == origin)
            .map(|r| r.retention)
            .min()
            .map_or(dead, |route| route.min(dead))
    }

    async fn store(&self, delivery: &Delivery) -> Result<bool, sqlx::Error> {
        let props = &delivery.properties;
        let headers = props.headers().as_ref();
        let death = last_death(headers);
        let hub_reason = get_str(headers, envelope::H_REASON);
        let origin = get_str(headers, envelope::H_ORIGIN_QUEUE)
            .map(str::to_owned)
            .or_else(|| death.as_ref().map(|d| d.queue.clone()))
            .unwrap_or_else(|| self.dead_queue.trim_start_matches("dead.").to_owned());
        let reason = hub_reason
            .map(str::to_owned)
            .or_else(|| death.as_ref().map(|d| d.reason.clone()))
            .unwrap_or_else(|| "unknown".to_owned());
        let detail = get_str(headers, envelope::H_DETAIL).map_or_else(
            || {
                death.as_ref().map_or_else(String::new, |d| {
                    format!("dead-lettered by the broker: {} in {}", d.reason, d.queue)
                })
            },
            str::to_owned,
        );
        let attempts = get_i64(headers, envelope::H_ATTEMPTS)
            .or_else(|| death.as_ref().map(|d| d.count))
            .unwrap_or(0);
        let last_failure = rfc3339(headers, envelope::H_LAST_FAILURE)
            .or_else(|| death.as_ref().and_then(|d| d.time));
        let first_failure = rfc3339(headers, envelope::H_FIRST_FAILURE).or(last_failure);
        let source = producer(&self.hub_user, headers, short(props.user_id())).map(str::to_owned);
        let message_id = short(props.message_id()).map(str::to_owned);
        let mut key = Sha256::new();
        for part in [
            self.dead_queue.as_str(),
            message_id.as_deref().unwrap_or(""),
            &last_failure.map(|t| t.to_rfc3339()).unwrap_or_default(),
            &attempts.to_string(),
        ] {
            key.update(part.as_bytes());
            key.update([0]);
        }
        key.update(&delivery.data);
        let dedup_key = hex::encode(key.finalize());
        let expires_at = Utc::now() + self.retention(&origin);
        let stored = sqlx::query(
            "INSERT INTO dead_letters (dedup_key, dead_queue, origin_queue, message_id, message_type, source, reason, detail,
                 attempts, first_failure, last_failure, expires_at, content_type, size_bytes, headers, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(&dedup_key)
        .bind(&self.dead_queue)
        .bind(&origin)
        .bind(&message_id)
        .bind(short(props.kind()))
        .bind(&source)
        .bind(&reason)
        .bind(&detail)
        .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
        .bind(first_failure)
        .bind(last_failure)
        .bind(expires_at)
        .bind(short(props.content_type()))
        .bind(i32::try_from(delivery.data.len()).unwrap_or(i32::MAX))
        .bind(kept_headers(headers))
        .bind(&delivery.data)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(stored == 1)
    }
}

impl Handler for Keeper {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        match self.store(delivery).await {
            Ok(fresh) => {
                if fresh {
                    metrics::counter!("hub_dead_letters_kept_total", "queue" => self.dead_queue.clone()).increment(1);
                }
                Outcome::Ack
            }
            Err(error) => Outcome::Transient(format!("storing the dead letter: {error}")),
        }
    }
}

/// Removes payloads whose retention ended, now and then every `interval`.
pub async fn purge_loop(pool: PgPool, interval: Duration, shutdown: Shutdown) {
    loop {
        match purge(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                purged = n,
                "dead-letter payloads purged after their retention"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "dead-letter purge failed, will try again")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One purge pass; returns how many payloads were removed.
pub async fn purge(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE dead_letters
         SET payload = NULL, purged_at = now(),
             state = CASE WHEN state = 'open' THEN 'purged' ELSE state END
         WHERE payload IS NOT NULL AND expires_at <= now()",
    )
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::amqp::headers::set_str;

    fn headers(pairs: &[(&str, &str)]) -> FieldTable {
        let mut table = FieldTable::default();
        for (k, v) in pairs {
            set_str(&mut table, k, *v);
        }
        table
    }

    #[test]
    fn the_producer_is_the_publisher_unless_the_hub_published() {
        let hub = "hub";
        // The hub dead-lettered a party's message that forged x-hub-source.
        let forged = headers(&[
            (envelope::H_ORIGINAL_USER, "wens"),
            (envelope::H_SOURCE, "reintegration-tool"),
        ]);
        assert_eq!(producer(hub, Some(&forged), None), Some("wens"));
        // The broker dead-lettered it: user_id is still the party's.
        let forged = headers(&[(envelope::H_SOURCE, "reintegration-tool")]);
        assert_eq!(producer(hub, Some(&forged), Some("wens")), Some("wens"));
        // The hub published (gateway, egress copy): it named the producer.
        let vouched = headers(&[
            (envelope::H_ORIGINAL_USER, "hub"),
            (envelope::H_SOURCE, "reintegration-tool"),
        ]);
        assert_eq!(
            producer(hub, Some(&vouched), None),
            Some("reintegration-tool")
        );
        assert_eq!(
            producer(
                hub,
                Some(&headers(&[(envelope::H_SOURCE, "wens")])),
                Some("hub")
            ),
            Some("wens")
        );
        // Nobody vouched for anything.
        assert_eq!(
            producer(hub, Some(&headers(&[(envelope::H_SOURCE, "wens")])), None),
            None
        );
        assert_eq!(producer(hub, None, Some("hub")), None);
    }
}
