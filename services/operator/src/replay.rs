//! Retrying dead letters: safe replay through the policy enforcement point.
//!
//! A retry republishes the dead letter to `hub.ingress` as the hub's own
//! AMQP user, with `x-hub-source` naming the original producer (the router
//! trusts that header only from the hub's user), the original type, content
//! type, message id, declared purposes and payload. So the router and the
//! current catalog decide again, exactly as for a fresh message: nothing is
//! delivered that the catalog in force does not allow, and every delivery is
//! logged. Only after the broker confirmed is the dead letter marked retried
//! and its payload removed.
//!
//! A dead letter that failed in a delivery queue holds that route's
//! minimised copy; replayed through the router it can reach only routes of
//! its declared purposes, with at most the fields it still holds.
//!
//! Jobs take their dead letters when they start (a group's new arrivals,
//! such as a retried message that fails again, are not picked up, so a job
//! always ends), work in batches, and pace themselves to a rate. Each batch
//! locks its rows (`FOR UPDATE SKIP LOCKED`), so two operators retrying the
//! same group never publish a dead letter twice; a dead letter another job
//! holds is skipped. Should the process die between a confirm and the
//! commit, the dead letter stays open and a later retry publishes it again;
//! the router recognises the message id and nothing is applied twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hub_core::amqp::headers::{set_str, short_string};
use hub_core::envelope;
use lapin::BasicProperties;
use lapin::types::FieldTable;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::{Action, OperatorUser};
use crate::dead_letters::Selection;
use crate::error::OpError;
use crate::ops::{Audit, Ops};

/// The header a retried message carries: the dead letter it came from, so
/// that a retry which fails again can be traced back.
pub const H_RETRY_OF: &str = "x-hub-retry-of";

/// Batch size and rate of a retry job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Dead letters per batch (one transaction each).
    pub batch_size: u32,
    /// Republished messages per second.
    pub rate_per_second: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self::new(0, 0)
    }
}

impl Pace {
    /// A pace; zero means the default (50 per batch, 50 per second), and
    /// values are capped (500 per batch, 1000 per second) so that a retry
    /// cannot flood the router.
    #[must_use]
    pub fn new(batch_size: u32, rate_per_second: u32) -> Self {
        let pick = |v: u32, default: u32, max: u32| if v == 0 { default } else { v.min(max) };
        Self {
            batch_size: pick(batch_size, 50, 500),
            rate_per_second: pick(rate_per_second, 50, 1_000),
        }
    }
}

/// How far a job got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The job.
    pub job_id: Uuid,
    /// Dead letters taken at the start.
    pub total: u32,
    /// Republished and marked retried.
    pub retried: u32,
    /// Not open any more, without payload or producer, or held by another job.
    pub skipped: u32,
    /// Not republished because the broker or the database failed.
    pub failed: u32,
    /// The job has ended.
    pub done: bool,
    /// Why it ended early.
    pub error: Option<String>,
}

/// A job as the console shows it.
#[derive(Clone, Debug)]
pub struct Job {
    /// Progress.
    pub progress: Progress,
    /// What was selected.
    pub description: String,
    /// Who started it.
    pub started_by: String,
    /// `running`, `finished`, `failed`, `interrupted`.
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last made progress (a running job whose process died stops
    /// moving).
    pub updated_at: DateTime<Utc>,
}

/// Keeps publishing at a rate: the n-th message goes no earlier than
/// n / rate after the start.
struct Pacer {
    start: Instant,
    sent: u32,
    interval: Duration,
}

impl Pacer {
    fn new(pace: Pace) -> Self {
        Self {
            start: Instant::now(),
            sent: 0,
            interval: Duration::from_secs(1) / pace.rate_per_second.max(1),
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep_until(self.start + self.interval * self.sent).await;
        self.sent += 1;
    }
}

type Candidate = (
    Uuid,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    serde_json::Value,
    Vec<u8>,
);

struct Batch {
    retried: u32,
    skipped: u32,
    failed: u32,
    error: Option<String>,
}

impl Ops {
    /// Starts a retry job for `selection`; the job runs on after this
    /// returns. The receiver sees its progress until it is done.
    pub async fn start_retry(
        self: &Arc<Self>,
        user: &OperatorUser,
        selection: &Selection,
        pace: Pace,
        note: &str,
    ) -> Result<watch::Receiver<Progress>, OpError> {
        user.require(Action::Act)?;
        let mut ids = match selection {
            Selection::Ids(ids) => ids.clone(),
            Selection::Group(key) => {
                sqlx::query_scalar(
                    "SELECT id FROM dead_letters
                     WHERE state = 'open' AND origin_queue = $1 AND reason = $2 AND coalesce(message_type, '') = $3
                     ORDER BY dead_lettered_at, id",
                )
                .bind(&key.origin_queue)
                .bind(&key.reason)
                .bind(&key.message_type)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        let job_id = Uuid::new_v4();
        let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let description = selection.describe();
        let note = note.trim().chars().take(500).collect::<String>();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO operator_jobs (id, kind, started_by, description, total) VALUES ($1, 'retry', $2, $3, $4)",
        )
        .bind(job_id)
        .bind(&user.name)
        .bind(&description)
        .bind(i32::try_from(total).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        let subject = format!("job:{job_id}");
        let detail = format!("{total} taken: {description}");
        Self::audit(
            &mut *tx,
            user,
            Audit {
                action: "retry_dead_letters",
                subject_ref: Some(&subject),
                reason: &note,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(operator = %user.name, job = %job_id, total, batch_size = pace.batch_size, rate = pace.rate_per_second, "retry job started");
        let (sender, receiver) = watch::channel(Progress {
            job_id,
            total,
            ..Progress::default()
        });
        let ops = self.clone();
        let operator = user.name.clone();
        let job = async move { ops.run_job(ids, pace, operator, note, sender).await };
        self.jobs.spawn(job);
        Ok(receiver)
    }

    async fn run_job(
        &self,
        ids: Vec<Uuid>,
        pace: Pace,
        operator: String,
        note: String,
        sender: watch::Sender<Progress>,
    ) {
        let mut progress = sender.borrow().clone();
        let mut pacer = Pacer::new(pace);
        let mut state = "finished";
        let batch_size = usize::try_from(pace.batch_size).unwrap_or(50);
        let mut attempted = 0usize;
        for chunk in ids.chunks(batch_size.max(1)) {
            if self.shutdown.is_cancelled() {
                state = "interrupted";
                progress.error =
                    Some("the operator service stopped; the rest stay open".to_owned());
                break;
            }
            attempted += chunk.len();
            let batch = match self.retry_batch(chunk, &operator, &note, &mut pacer).await {
                Ok(batch) => batch,
                Err(error) => Batch {
                    retried: 0,
                    skipped: 0,
                    failed: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
                    error: Some(error.log_internal().to_owned()),
                },
            };
            progress.retried += batch.retried;
            progress.skipped += batch.skipped;
            progress.failed += batch.failed;
            let stop = batch.error.is_some();
            progress.error = batch.error;
            if stop {
                state = "failed";
            }
            self.save(&progress, "running").await;
            sender.send_replace(progress.clone());
            if stop {
                break;
            }
        }
        // What was never attempted stays open; count it as not retried.
        let rest = u32::try_from(ids.len() - attempted).unwrap_or(u32::MAX);
        progress.failed += rest;
        progress.done = true;
        self.save(&progress, state).await;
        tracing::info!(job = %progress.job_id, retried = progress.retried, skipped = progress.skipped, failed = progress.failed, state, "retry job ended");
        sender.send_replace(progress);
    }

    /// One batch in one transaction: lock the rows, publish each (confirmed),
    /// mark the published ones retried.
    async fn retry_batch(
        &self,
        chunk: &[Uuid],
        operator: &str,
        note: &str,
        pacer: &mut Pacer,
    ) -> Result<Batch, OpError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Candidate> = sqlx::query_as(
            "SELECT id, message_id, message_type, source, content_type, headers, payload FROM dead_letters
             WHERE id = ANY($1) AND state = 'open' AND payload IS NOT NULL AND source IS NOT NULL
             ORDER BY dead_lettered_at, id
             FOR UPDATE SKIP LOCKED",
        )
        .bind(chunk)
        .fetch_all(&mut *tx)
        .await?;
        let skipped = u32::try_from(chunk.len() - rows.len()).unwrap_or(u32::MAX);
        let mut retried = Vec::with_capacity(rows.len());
        let mut error = None;
        for (id, message_id, message_type, source, content_type, headers, payload) in &rows {
            pacer.wait().await;
            let properties =
                self.properties(*id, message_id, message_type, source, content_type, headers);
            let routing_key = message_type.as_deref().unwrap_or_default();
            match self
                .publisher
                .publish(envelope::INGRESS_EXCHANGE, routing_key, payload, properties)
                .await
            {
                Ok(()) => retried.push(*id),
                Err(e) => {
                    tracing::warn!(dead_letter = %id, error = %e, "retry not confirmed, stopping the job");
                    error = Some(format!("the broker did not confirm a retry: {e}"));
                    break;
                }
            }
        }
        sqlx::query(
            "UPDATE dead_letters SET state = 'retried', payload = NULL, resolved_at = now(),
                 resolved_by = $2, resolution_note = $3
             WHERE id = ANY($1)",
        )
        .bind(&retried)
        .bind(operator)
        .bind(note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let retried_count = u32::try_from(retried.len()).unwrap_or(u32::MAX);
        Ok(Batch {
            retried: retried_count,
            skipped,
            failed: u32::try_from(rows.len()).unwrap_or(u32::MAX) - retried_count,
            error,
        })
    }

    /// The properties of a retried message: as the hub, naming the producer.
    fn properties(
        &self,
        id: Uuid,
        message_id: &Option<String>,
        message_type: &Option<String>,
        source: &str,
        content_type: &Option<String>,
        kept: &serde_json::Value,
    ) -> BasicProperties {
        let mut headers = FieldTable::default();
        set_str(&mut headers, envelope::H_SOURCE, source);
        for name in [envelope::H_PURPOSE, envelope::H_TRACEPARENT] {
            if let Some(value) = kept.get(name).and_then(serde_json::Value::as_str) {
                set_str(&mut headers, name, value);
            }
        }
        set_str(&mut headers, H_RETRY_OF, id.to_string());
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_user_id(short_string(&self.hub_user))
            .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
            .with_headers(headers);
        if let Some(v) = message_id {
            properties = properties.with_message_id(short_string(v));
        }
        if let Some(v) = message_type {
            properties = properties.with_type(short_string(v));
        }
        if let Some(v) = content_type {
            properties = properties.with_content_type(short_string(v));
        }
        properties
    }

    /// Records a job's progress; a failure is logged, the job goes on (its
    /// effects are in `dead_letters`, this is only the counter).
    async fn save(&self, progress: &Progress, state: &str) {
        let result = sqlx::query(
            "UPDATE operator_jobs SET retried = $2, skipped = $3, failed = $4, state = $5, error = $6,
                 updated_at = now(), finished_at = CASE WHEN $5 = 'running' THEN NULL ELSE now() END
             WHERE id = $1",
        )
        .bind(progress.job_id)
        .bind(i32::try_from(progress.retried).unwrap_or(i32::MAX))
        .bind(i32::try_from(progress.skipped).unwrap_or(i32::MAX))
        .bind(i32::try_from(progress.failed).unwrap_or(i32::MAX))
        .bind(state)
        .bind(progress.error.as_deref().unwrap_or(""))
        .execute(&self.pool)
        .await;
        if let Err(error) = result {
            tracing::warn!(job = %progress.job_id, error = %error, "could not record job progress");
        }
    }

    /// A job, for the console's progress view.
    pub async fn job(&self, user: &OperatorUser, id: &str) -> Result<Job, OpError> {
        user.require(Action::View)?;
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| OpError::invalid("id", "is not a job id (a UUID)"))?;
        type JobRow = (
            String,
            String,
            i32,
            i32,
            i32,
            i32,
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
        );
        let row: Option<JobRow> =
            sqlx::query_as(
                "SELECT description, started_by, total, retried, skipped, failed, state, error, started_at, updated_at
                 FROM operator_jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let r = row.ok_or_else(|| OpError::NotFound(format!("no job {id}")))?;
        let count = |v: i32| u32::try_from(v).unwrap_or(0);
        Ok(Job {
            progress: Progress {
                job_id: id,
                total: count(r.2),
                retried: count(r.3),
                skipped: count(r.4),
                failed: count(r.5),
                done: r.6 != "running",
                error: Some(r.7).filter(|e| !e.is_empty()),
            },
            description: r.0,
            started_by: r.1,
            state: r.6,
            started_at: r.8,
            updated_at: r.9,
        })
    }
}
