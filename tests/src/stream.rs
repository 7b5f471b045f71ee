//! A steady stream of hire events from WenS over AMQP, for the drills:
//! every message is published until the broker confirmed it, reconnecting
//! when the broker goes away, so "sent" means "confirmed".

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hub_core::envelope::INGRESS_EXCHANGE;
use hub_policy::samples;
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation};

use crate::TestEnv;
use crate::amqp::{Ingress, PartyConnection};

/// The AMQP message id of the hire event of `seed` (stable, so a retried
/// publish is recognised as the same message).
#[must_use]
pub fn hire_message_id(seed: u32) -> String {
    format!("drill-hire-{seed}")
}

/// The personnel number of the hire event of `seed`.
#[must_use]
pub fn personnel_number(seed: u32) -> String {
    samples::hire_event(seed)
        .appointment
        .map(|a| a.personnel_number)
        .unwrap_or_default()
}

fn message(env: &TestEnv, seed: u32) -> (Vec<u8>, BasicProperties) {
    let mut ingress = Ingress::new("wens.hire.v1", "wens", "appointment_preparation");
    ingress.message_id = Some(hire_message_id(seed));
    (
        crate::to_json(env, "wens.hire.v1", &samples::hire_event(seed)),
        ingress.properties(),
    )
}

async fn publish_batch(
    connection: &PartyConnection,
    batch: &[(Vec<u8>, BasicProperties)],
) -> Result<(), String> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let mut confirms = Vec::with_capacity(batch.len());
    for (payload, props) in batch {
        let confirm = connection
            .channel
            .basic_publish(
                INGRESS_EXCHANGE.into(),
                "wens.hire.v1".into(),
                options,
                payload,
                props.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
        confirms.push(confirm);
    }
    for result in join_all(confirms).await {
        match result {
            Ok(Confirmation::Ack(None)) => {}
            other => return Err(format!("{other:?}")),
        }
    }
    Ok(())
}

/// Publishes the hire events of `seeds` in batches of `batch`, pausing
/// `pause` between batches; retries a batch until confirmed (at most
/// `deadline` in all). Returns how many were confirmed.
pub async fn publish_hires(
    env: &TestEnv,
    seeds: std::ops::Range<u32>,
    batch: usize,
    pause: Duration,
    deadline: Duration,
) -> u64 {
    let until = Instant::now() + deadline;
    let mut connection = None;
    let mut confirmed = 0u64;
    let all: Vec<u32> = seeds.collect();
    for chunk in all.chunks(batch.max(1)) {
        let messages: Vec<_> = chunk.iter().map(|s| message(env, *s)).collect();
        loop {
            assert!(
                Instant::now() < until,
                "could not publish within {deadline:?}"
            );
            if connection.is_none() {
                connection = PartyConnection::open(&env.url_as("wens")).await.ok();
            }
            let Some(open) = &connection else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            match publish_batch(open, &messages).await {
                Ok(()) => break,
                Err(_) => {
                    // The broker went away: start over on a new connection;
                    // the stable message ids make the repeats harmless.
                    connection = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        confirmed += messages.len() as u64;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    if let Some(open) = connection {
        open.close().await;
    }
    confirmed
}

/// Counts of what the hire events did, read from the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Processing-log records.
    pub log_records: i64,
    /// Distinct egress ids among them.
    pub log_distinct: i64,
    /// Dossiers.
    pub dossiers: i64,
    /// Dossier entries.
    pub entries: i64,
    /// Dossier inbox rows.
    pub inbox: i64,
    /// Dossier entries stored more than once for the same message and
    /// category (an effect applied twice).
    pub duplicate_entries: i64,
}

/// Reads the effect counts.
pub async fn effects(pool: &sqlx::PgPool) -> Effects {
    let (log_records, log_distinct, dossiers, entries, inbox, duplicate_entries): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM processing_log), (SELECT count(DISTINCT egress_message_id) FROM processing_log),
                (SELECT count(*) FROM dossiers), (SELECT count(*) FROM dossier_entries),
                (SELECT count(*) FROM inbox WHERE consumer = 'dossier'),
                (SELECT count(*) FROM (SELECT 1 FROM dossier_entries GROUP BY source_message_id, category
                                       HAVING count(*) > 1) d)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    Effects {
        log_records,
        log_distinct,
        dossiers,
        entries,
        inbox,
        duplicate_entries,
    }
}
