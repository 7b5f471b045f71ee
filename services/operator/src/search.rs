//! Searching the processing log by person (subject access request): the
//! hub computes the keyed pseudonym of the BSN or employee id and finds the
//! deliveries recorded under it. The BSN itself is neither stored nor
//! logged; the search is recorded in the audit log by pseudonym, before the
//! records are returned.

use chrono::{DateTime, Utc};
use hub_policy::bsn;
use hub_policy::pseudonym::SubjectId;

use crate::auth::{Action, OperatorUser};
use crate::error::OpError;
use crate::ops::{Audit, Ops};

/// Whom to search for.
#[derive(Clone)]
pub enum Subject {
    /// A BSN (nine digits passing the eleven test).
    Bsn(String),
    /// An employee id.
    EmployeeId(String),
}

impl std::fmt::Debug for Subject {
    // Never print the value: a BSN is personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Bsn(_) => f.write_str("Bsn(..)"),
            Subject::EmployeeId(_) => f.write_str("EmployeeId(..)"),
        }
    }
}

/// Why a search is made: answering a person, or exporting for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Looking at the records.
    Search,
    /// Downloading them (CSV) to answer an access request.
    Export,
}

/// One record of the processing log.
#[derive(Clone, Debug)]
pub struct LoggedDelivery {
    /// When.
    pub logged_at: DateTime<Utc>,
    /// Message type.
    pub message_type: String,
    /// Register activity.
    pub activity: String,
    /// Purposes served.
    pub purposes: Vec<String>,
    /// Legal basis.
    pub legal_basis: String,
    /// Producer.
    pub source: String,
    /// Recipient.
    pub recipient: String,
    /// Categories delivered.
    pub categories: Vec<String>,
    /// Fields delivered.
    pub fields_delivered: i32,
    /// Fields removed.
    pub fields_removed: i32,
    /// Catalog version.
    pub catalog_version: String,
    /// Trace id.
    pub trace_id: String,
    /// Ingress message id.
    pub ingress_message_id: String,
    /// Egress message id.
    pub egress_message_id: String,
}

type Row = (
    DateTime<Utc>,
    String,
    String,
    Vec<String>,
    String,
    String,
    String,
    Vec<String>,
    i32,
    i32,
    String,
    String,
    String,
    String,
);

impl Ops {
    /// Every delivery about one person, at most `limit` (0: 1000).
    pub async fn search_log(
        &self,
        user: &OperatorUser,
        subject: &Subject,
        reason: &str,
        limit: u32,
        purpose: Purpose,
    ) -> Result<Vec<LoggedDelivery>, OpError> {
        user.require(Action::SearchSubject)?;
        let (column, pseudonym) = match subject {
            Subject::Bsn(value) => {
                if !bsn::is_valid(value.trim()) {
                    return Err(OpError::invalid(
                        "bsn",
                        "is not a valid BSN (nine digits that pass the eleven test)",
                    ));
                }
                (
                    "subject_pseudonym",
                    self.key.pseudonym(SubjectId::Bsn(value.trim())),
                )
            }
            Subject::EmployeeId(value) if !value.trim().is_empty() => (
                "employee_pseudonym",
                self.key.pseudonym(SubjectId::EmployeeId(value.trim())),
            ),
            Subject::EmployeeId(_) => {
                return Err(OpError::invalid("subject", "give a bsn or an employee_id"));
            }
        };
        let limit = if limit == 0 { 1_000 } else { limit.min(10_000) };
        // `column` is one of two constants above, never input.
        let sql = format!(
            "SELECT logged_at, message_type, activity, purposes, legal_basis, source, recipient, categories,
                    fields_delivered, fields_removed, catalog_version, trace_id, ingress_message_id, egress_message_id
             FROM processing_log WHERE {column} = $1 ORDER BY logged_at, recipient LIMIT $2"
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&pseudonym)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let action = match purpose {
            Purpose::Search => "search_processing_log",
            Purpose::Export => "export_processing_log",
        };
        let detail = format!("{} records by {column}", rows.len());
        Self::audit(
            &self.pool,
            user,
            Audit {
                action,
                subject_ref: Some(&pseudonym),
                reason,
                detail: &detail,
            },
        )
        .await?;
        tracing::info!(operator = %user.name, records = rows.len(), action, "processing log searched by subject");
        Ok(rows
            .into_iter()
            .map(|r| LoggedDelivery {
                logged_at: r.0,
                message_type: r.1,
                activity: r.2,
                purposes: r.3,
                legal_basis: r.4,
                source: r.5,
                recipient: r.6,
                categories: r.7,
                fields_delivered: r.8,
                fields_removed: r.9,
                catalog_version: r.10,
                trace_id: r.11,
                ingress_message_id: r.12,
                egress_message_id: r.13,
            })
            .collect())
    }
}

/// The CSV columns of an export, for answering an access request.
pub const CSV_HEADER: &str = "logged_at,message_type,register_activity,purposes,legal_basis,source,recipient,categories,fields_delivered,fields_removed,catalog_version,trace_id,ingress_message_id";

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// One CSV record (RFC 4180 quoting), without the line end.
#[must_use]
pub fn csv_record(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// The records as CSV (RFC 4180), header first.
#[must_use]
pub fn to_csv(deliveries: &[LoggedDelivery]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for d in deliveries {
        let row = [
            d.logged_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.message_type.clone(),
            d.activity.clone(),
            d.purposes.join(";"),
            d.legal_basis.clone(),
            d.source.clone(),
            d.recipient.clone(),
            d.categories.join(";"),
            d.fields_delivered.to_string(),
            d.fields_removed.to_string(),
            d.catalog_version.clone(),
            d.trace_id.clone(),
            d.ingress_message_id.clone(),
        ];
        out.push_str(&csv_record(&row));
        out.push_str("\r\n");
    }
    out
}
