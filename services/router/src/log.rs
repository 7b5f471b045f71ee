//! The processing log and the router's inbox, written in one statement:
//! either the inbox row and every delivery record are stored, or none are.

use hub_core::envelope::TraceContext;
use hub_policy::Route;
use sqlx::PgPool;

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

const RECORD: &str = r"
WITH inbox AS (
    INSERT INTO router_inbox (message_id, payload_sha256, queues)
    VALUES ($1, $2, $3)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id
), logged AS (
    INSERT INTO processing_log (
        trace_id, span_id, ingress_message_id, egress_message_id, message_type, activity,
        purposes, legal_basis, source, recipient, queue, categories,
        fields_delivered, fields_removed, catalog_version, subject_pseudonym, employee_pseudonym)
    SELECT $4, $5, $1, e.egress_id, $6, $7,
        string_to_array(e.purposes, ','), e.legal_basis, $8, e.recipient, e.queue, string_to_array(e.categories, ','),
        e.delivered, e.removed, $9, $10, $11
    FROM unnest($12::text[], $13::text[], $3::text[], $14::text[], $15::text[], $16::text[], $17::int[], $18::int[])
        AS e(egress_id, recipient, queue, purposes, legal_basis, categories, delivered, removed)
    WHERE EXISTS (SELECT 1 FROM inbox)
    RETURNING 1
), cases AS (
    INSERT INTO case_deliveries (case_id, recipient, subject_pseudonym, employee_pseudonym)
    SELECT $19, r, $10, $11 FROM unnest($13::text[]) AS r
    WHERE $19::text IS NOT NULL AND EXISTS (SELECT 1 FROM inbox)
    ON CONFLICT (case_id, recipient) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inbox) AS new, (SELECT count(*) FROM logged) AS logged";

/// Writes the inbox row, the log records and the case deliveries at once.
pub(crate) async fn record(pool: &PgPool, d: &Delivery<'_>) -> Result<Recorded, sqlx::Error> {
    let queues: Vec<&str> = d.copies.iter().map(|c| c.route.queue.as_str()).collect();
    let egress: Vec<&str> = d.copies.iter().map(|c| c.egress_id.as_str()).collect();
    let recipients: Vec<&str> = d
        .copies
        .iter()
        .map(|c| c.route.recipient.as_str())
        .collect();
    let purposes: Vec<String> = d.copies.iter().map(|c| c.purposes.join(",")).collect();
    let bases: Vec<&str> = d
        .copies
        .iter()
        .map(|c| c.route.legal_basis.as_str())
        .collect();
    let categories: Vec<String> = d.copies.iter().map(|c| c.categories.join(",")).collect();
    let delivered: Vec<i32> = d
        .copies
        .iter()
        .map(|c| i32::try_from(c.delivered).unwrap_or(i32::MAX))
        .collect();
    let removed: Vec<i32> = d
        .copies
        .iter()
        .map(|c| i32::try_from(c.removed).unwrap_or(i32::MAX))
        .collect();
    let (new, _logged): (i64, i64) = sqlx::query_as(RECORD)
        .bind(d.ingress_id)
        .bind(d.payload_hash)
        .bind(&queues)
        .bind(&d.trace.trace_id)
        .bind(&d.trace.span_id)
        .bind(d.message_type)
        .bind(d.activity)
        .bind(d.source)
        .bind(d.catalog_version)
        .bind(d.subject)
        .bind(d.employee)
        .bind(&egress)
        .bind(&recipients)
        .bind(&purposes)
        .bind(&bases)
        .bind(&categories)
        .bind(&delivered)
        .bind(&removed)
        .bind(d.case_id)
        .fetch_one(pool)
        .await?;
    if new == 1 {
        return Ok(Recorded::New);
    }
    let (payload_hash, queues): (String, Vec<String>) = sqlx::query_as(
        "UPDATE router_inbox SET duplicates = duplicates + 1, last_duplicate_at = now()
         WHERE message_id = $1 RETURNING payload_sha256, queues",
    )
    .bind(d.ingress_id)
    .fetch_one(pool)
    .await?;
    Ok(Recorded::Replay {
        payload_hash,
        queues,
    })
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
