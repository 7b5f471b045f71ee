//! The processing log and the router's inbox, written in one statement:
//! either the inbox row and every delivery record of a message are stored,
//! or none are. Messages that arrive together share a statement.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use hub_core::envelope::TraceContext;
use hub_policy::Route;
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// One minimised copy and what the log says about it.
pub(crate) struct CopyRecord<'a> {
    pub route: &'a Route,
    pub egress_id: String,
    pub payload: Vec<u8>,
    pub purposes: Vec<String>,
    pub categories: Vec<String>,
    pub delivered: usize,
    pub removed: usize,
}

/// Everything recorded about one ingress message.
pub(crate) struct Delivery<'a> {
    pub ingress_id: &'a str,
    pub payload_hash: &'a str,
    pub trace: &'a TraceContext,
    pub message_type: &'a str,
    pub activity: &'a str,
    pub source: &'a str,
    pub catalog_version: &'a str,
    pub subject: Option<&'a str>,
    pub employee: Option<&'a str>,
    pub case_id: Option<&'a str>,
    pub copies: &'a [CopyRecord<'a>],
}

/// What the write found.
pub(crate) enum Recorded {
    /// First time: inbox row and log records written.
    New,
    /// Seen before: nothing written; this is what was stored then.
    Replay {
        payload_hash: String,
        queues: Vec<String>,
    },
}

/// How many messages one log write carries at most.
const BATCH_MAX: usize = 128;
/// How many log writes run at once (each on its own pooled connection).
/// Two: while one statement runs, the next batch gathers, so under load
/// batches grow (about 10 messages at saturation) instead of many small
/// statements competing for the database's CPU; a second one in flight
/// keeps a slow commit from holding up every message (measured with
/// `hub-bench all`: 4 gave batches of about 4 and used 38% of a core in
/// PostgreSQL against 26–31% with 2 or 1; 1 let single slow commits show
/// in the p99 at 1,000 messages per second).
const WRITES_IN_FLIGHT: usize = 2;

/// The inbox rows, the log records and the case deliveries of a batch of
/// messages, in one statement (one transaction, one WAL flush). A message
/// whose id is already in the inbox gets nothing written; the statement
/// returns the ids that were new.
const RECORD_BATCH: &str = r"
WITH m AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
        AS m(message_id, sha, queues, trace_id, span_id, message_type,
             activity, source, catalog_version, subject, employee, case_id)
), inbox AS (
    INSERT INTO router_inbox (message_id, payload_sha256, queues)
    SELECT message_id, sha, string_to_array(queues, ',') FROM m
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id
), c AS (
    SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
                         $18::text[], $19::text[], $20::int[], $21::int[])
        AS c(ingress_id, egress_id, recipient, queue, purposes, legal_basis, categories,
             delivered, removed)
), fresh AS (
    SELECT m.*, c.egress_id, c.recipient, c.queue, c.purposes, c.legal_basis, c.categories,
           c.delivered, c.removed
    FROM c JOIN m ON m.message_id = c.ingress_id JOIN inbox i ON i.message_id = m.message_id
), logged AS (
    INSERT INTO processing_log (
        trace_id, span_id, ingress_message_id, egress_message_id, message_type, activity,
        purposes, legal_basis, source, recipient, queue, categories,
        fields_delivered, fields_removed, catalog_version, subject_pseudonym, employee_pseudonym)
    SELECT trace_id, span_id, message_id, egress_id, message_type, activity,
        string_to_array(purposes, ','), legal_basis, source, recipient, queue,
        string_to_array(categories, ','), delivered, removed, catalog_version, subject, employee
    FROM fresh
    RETURNING 1
), cases AS (
    INSERT INTO case_deliveries (case_id, recipient, subject_pseudonym, employee_pseudonym)
    SELECT DISTINCT ON (case_id, recipient) case_id, recipient, subject, employee
    FROM fresh WHERE case_id IS NOT NULL
    ORDER BY case_id, recipient, message_id
    ON CONFLICT (case_id, recipient) DO NOTHING
    RETURNING 1
)
SELECT message_id FROM inbox";

/// One message's log entry, owned, so it can wait in the writer's queue.
struct Entry {
    ingress_id: String,
    payload_hash: String,
    queues: String,
    trace_id: String,
    span_id: String,
    message_type: String,
    activity: String,
    source: String,
    catalog_version: String,
    subject: Option<String>,
    employee: Option<String>,
    case_id: Option<String>,
    copies: Vec<CopyEntry>,
}

struct CopyEntry {
    egress_id: String,
    recipient: String,
    queue: String,
    purposes: String,
    legal_basis: String,
    categories: String,
    delivered: i32,
    removed: i32,
}

impl Entry {
    fn of(d: &Delivery<'_>) -> Self {
        Self {
            ingress_id: d.ingress_id.to_owned(),
            payload_hash: d.payload_hash.to_owned(),
            queues: d
                .copies
                .iter()
                .map(|c| c.route.queue.as_str())
                .collect::<Vec<_>>()
                .join(","),
            trace_id: d.trace.trace_id.clone(),
            span_id: d.trace.span_id.clone(),
            message_type: d.message_type.to_owned(),
            activity: d.activity.to_owned(),
            source: d.source.to_owned(),
            catalog_version: d.catalog_version.to_owned(),
            subject: d.subject.map(str::to_owned),
            employee: d.employee.map(str::to_owned),
            case_id: d.case_id.map(str::to_owned),
            copies: d
                .copies
                .iter()
                .map(|c| CopyEntry {
                    egress_id: c.egress_id.clone(),
                    recipient: c.route.recipient.clone(),
                    queue: c.route.queue.clone(),
                    purposes: c.purposes.join(","),
                    legal_basis: c.route.legal_basis.clone(),
                    categories: c.categories.join(","),
                    delivered: i32::try_from(c.delivered).unwrap_or(i32::MAX),
                    removed: i32::try_from(c.removed).unwrap_or(i32::MAX),
                })
                .collect(),
        }
    }
}

/// Why a log write failed; the message is retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    /// The database refused or could not be reached.
    #[error("{0}")]
    Database(String),
    /// The writer stopped (the router is shutting down).
    #[error("the processing-log writer stopped")]
    Stopped,
}

struct Job {
    entry: Entry,
    reply: oneshot::Sender<Result<bool, LogError>>,
}

/// Writes log entries in batches. Under light load every message is
/// written on its own, at once; under load the messages that arrive while
/// earlier writes run are gathered into one statement, so the cost of a
/// commit (a WAL flush) is shared instead of paid per message.
#[derive(Clone, Debug)]
pub(crate) struct LogWriter {
    pool: PgPool,
    jobs: mpsc::Sender<Job>,
}

impl LogWriter {
    /// Starts the writer on the current Tokio runtime; it stops when every
    /// `LogWriter` clone is dropped, after the writes in flight finished.
    pub(crate) fn start(pool: PgPool) -> Self {
        let (jobs, queue) = mpsc::channel(BATCH_MAX * WRITES_IN_FLIGHT * 4);
        tokio::spawn(run(pool.clone(), queue));
        Self { pool, jobs }
    }

    /// Writes the inbox row, the log records and the case deliveries of
    /// one message, all or nothing; a message seen before gets nothing
    /// written and the stored facts back.
    pub(crate) async fn record(&self, d: &Delivery<'_>) -> Result<Recorded, LogError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                entry: Entry::of(d),
                reply,
            })
            .await
            .map_err(|_| LogError::Stopped)?;
        let new = answer.await.map_err(|_| LogError::Stopped)??;
        if new {
            return Ok(Recorded::New);
        }
        let (payload_hash, queues): (String, Vec<String>) = sqlx::query_as(
            "UPDATE router_inbox SET duplicates = duplicates + 1, last_duplicate_at = now()
             WHERE message_id = $1 RETURNING payload_sha256, queues",
        )
        .bind(d.ingress_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| LogError::Database(e.to_string()))?;
        Ok(Recorded::Replay {
            payload_hash,
            queues,
        })
    }
}

async fn run(pool: PgPool, mut queue: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(WRITES_IN_FLIGHT));
    // Two deliveries of one message never share a batch: within one
    // statement both would look new.
    let mut deferred: VecDeque<Job> = VecDeque::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let mut ids = HashSet::new();
        let mut batch = Vec::new();
        let mut later = VecDeque::new();
        for job in deferred.drain(..) {
            if batch.len() < BATCH_MAX && ids.insert(job.entry.ingress_id.clone()) {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        deferred = later;
        if batch.is_empty() {
            match queue.recv().await {
                Some(job) => {
                    ids.insert(job.entry.ingress_id.clone());
                    batch.push(job);
                }
                None => break,
            }
        }
        while batch.len() < BATCH_MAX {
            let Ok(job) = queue.try_recv() else { break };
            if ids.insert(job.entry.ingress_id.clone()) {
                batch.push(job);
            } else {
                deferred.push_back(job);
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write(&pool, batch).await;
            drop(permit);
        });
    }
    for job in deferred {
        let _ = job.reply.send(Err(LogError::Stopped));
    }
    let _ = permits.acquire_many(WRITES_IN_FLIGHT as u32).await;
}

/// Writes a batch and answers each job. When the database refuses a batch
/// of several (one entry it cannot store), each entry is written on its
/// own, so one bad entry fails only its own message.
async fn write(pool: &PgPool, batch: Vec<Job>) {
    metrics::histogram!("hub_log_batch_size").record(batch.len() as f64);
    let entries: Vec<&Entry> = batch.iter().map(|j| &j.entry).collect();
    match record_batch(pool, &entries).await {
        Ok(new) => {
            for job in batch {
                let is_new = new.contains(&job.entry.ingress_id);
                let _ = job.reply.send(Ok(is_new));
            }
        }
        Err(sqlx::Error::Database(_)) if batch.len() > 1 => {
            for job in batch {
                let result = record_batch(pool, &[&job.entry])
                    .await
                    .map(|new| new.contains(&job.entry.ingress_id))
                    .map_err(|e| LogError::Database(e.to_string()));
                let _ = job.reply.send(result);
            }
        }
        Err(error) => {
            let detail = error.to_string();
            for job in batch {
                let _ = job.reply.send(Err(LogError::Database(detail.clone())));
            }
        }
    }
}

/// The connections the writer uses at once, opened and with the batch
/// statement prepared on each: the first messages after a start (or a quiet
/// spell) then do not wait for a connection to be made and a plan to be
/// prepared (measured: 100–200 ms for the first messages without this).
pub(crate) const WARM_CONNECTIONS: u32 = WRITES_IN_FLIGHT as u32 + 1;

/// Opens [`WARM_CONNECTIONS`] connections at once and runs the batch
/// statement without entries on each (it writes nothing).
pub(crate) async fn warm(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut connections = Vec::new();
    for _ in 0..WARM_CONNECTIONS {
        connections.push(pool.acquire().await?);
    }
    for connection in &mut connections {
        record_batch(&mut **connection, &[]).await?;
    }
    Ok(())
}

async fn record_batch(
    db: impl sqlx::PgExecutor<'_>,
    entries: &[&Entry],
) -> Result<HashSet<String>, sqlx::Error> {
    let text = |f: fn(&Entry) -> &str| -> Vec<&str> { entries.iter().map(|e| f(e)).collect() };
    let optional = |f: fn(&Entry) -> Option<&str>| -> Vec<Option<&str>> {
        entries.iter().map(|e| f(e)).collect()
    };
    let copies: Vec<(&str, &CopyEntry)> = entries
        .iter()
        .flat_map(|e| e.copies.iter().map(|c| (e.ingress_id.as_str(), c)))
        .collect();
    let copy_text =
        |f: fn(&CopyEntry) -> &str| -> Vec<&str> { copies.iter().map(|(_, c)| f(c)).collect() };
    let new: Vec<String> = sqlx::query_scalar(RECORD_BATCH)
        .bind(text(|e| &e.ingress_id))
        .bind(text(|e| &e.payload_hash))
        .bind(text(|e| &e.queues))
        .bind(text(|e| &e.trace_id))
        .bind(text(|e| &e.span_id))
        .bind(text(|e| &e.message_type))
        .bind(text(|e| &e.activity))
        .bind(text(|e| &e.source))
        .bind(text(|e| &e.catalog_version))
        .bind(optional(|e| e.subject.as_deref()))
        .bind(optional(|e| e.employee.as_deref()))
        .bind(optional(|e| e.case_id.as_deref()))
        .bind(copies.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(copy_text(|c| &c.egress_id))
        .bind(copy_text(|c| &c.recipient))
        .bind(copy_text(|c| &c.queue))
        .bind(copy_text(|c| &c.purposes))
        .bind(copy_text(|c| &c.legal_basis))
        .bind(copy_text(|c| &c.categories))
        .bind(copies.iter().map(|(_, c)| c.delivered).collect::<Vec<_>>())
        .bind(copies.iter().map(|(_, c)| c.removed).collect::<Vec<_>>())
        .fetch_all(db)
        .await?;
    Ok(new.into_iter().collect())
}

/// The subject pseudonyms of a case, if it was delivered to `recipient`.
pub(crate) async fn case_subject(
    pool: &PgPool,
    case_id: &str,
    recipient: &str,
) -> Result<Option<(Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT subject_pseudonym, employee_pseudonym FROM case_deliveries WHERE case_id = $1 AND recipient = $2")
        .bind(case_id)
        .bind(recipient)
        .fetch_optional(pool)
        .await
}
