//! Requests of the employee for correction, completion, deletion or
//! blocking (art 9) and objections (art 10), each tracked with its decision.
//! A refusal, whole or partial, states its reasons (art 9.2, 10.2).

use chrono::{DateTime, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::caller::Caller;
use crate::convert::{opt_timestamp, parse_id, required_text, text, timestamp};
use crate::error::{ApiError, Violations};
use crate::store;

#[derive(sqlx::FromRow)]
struct RequestRow {
    request_id: Uuid,
    personnel_number: String,
    kind: String,
    entry_id: Option<Uuid>,
    reasons: String,
    requested_change: String,
    submitted_by: String,
    submitted_at: DateTime<Utc>,
    decision: Option<String>,
    decision_reasons: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "request_id, personnel_number, kind, entry_id, reasons, requested_change, submitted_by,
     submitted_at, decision, decision_reasons, decided_by, decided_at";

fn kind_name(kind: i32) -> Option<&'static str> {
    match pb::SubjectRequestKind::try_from(kind).ok()? {
        pb::SubjectRequestKind::Correction => Some("correction"),
        pb::SubjectRequestKind::Completion => Some("completion"),
        pb::SubjectRequestKind::Deletion => Some("deletion"),
        pb::SubjectRequestKind::Blocking => Some("blocking"),
        pb::SubjectRequestKind::Objection => Some("objection"),
        pb::SubjectRequestKind::Unspecified => None,
    }
}

fn kind_pb(kind: &str) -> pb::SubjectRequestKind {
    match kind {
        "correction" => pb::SubjectRequestKind::Correction,
        "completion" => pb::SubjectRequestKind::Completion,
        "deletion" => pb::SubjectRequestKind::Deletion,
        "blocking" => pb::SubjectRequestKind::Blocking,
        "objection" => pb::SubjectRequestKind::Objection,
        _ => pb::SubjectRequestKind::Unspecified,
    }
}

fn decision_pb(decision: Option<&str>) -> pb::Decision {
    match decision {
        Some("granted") => pb::Decision::Granted,
        Some("partially_granted") => pb::Decision::PartiallyGranted,
        Some("refused") => pb::Decision::Refused,
        _ => pb::Decision::Unspecified,
    }
}

impl From<RequestRow> for pb::SubjectRequest {
    fn from(r: RequestRow) -> Self {
        pb::SubjectRequest {
            request_id: r.request_id.to_string(),
            personnel_number: r.personnel_number,
            kind: kind_pb(&r.kind).into(),
            entry_id: r.entry_id.map(|e| e.to_string()).unwrap_or_default(),
            reasons: r.reasons,
            requested_change: r.requested_change,
            submitted_by: r.submitted_by,
            submitted_at: Some(timestamp(r.submitted_at)),
            decision: decision_pb(r.decision.as_deref()).into(),
            decision_reasons: r.decision_reasons.unwrap_or_default(),
            decided_by: r.decided_by.unwrap_or_default(),
            decided_at: opt_timestamp(r.decided_at),
        }
    }
}

async fn load(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<RequestRow>, sqlx::Error> {
    let lock = if lock { "FOR UPDATE" } else { "" };
    // `COLUMNS` and `lock` are constants.
    let sql =
        format!("SELECT {COLUMNS} FROM dossier_subject_requests WHERE request_id = $1 {lock}");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// `SubmitSubjectRequest`.
pub(crate) async fn submit(
    pool: &PgPool,
    caller: &Caller,
    request: pb::SubmitSubjectRequestRequest,
    now: DateTime<Utc>,
) -> Result<pb::SubmitSubjectRequestResponse, ApiError> {
    let number = caller.subject_dossier(&request.personnel_number)?;
    let mut v = Violations::default();
    let kind = kind_name(request.kind);
    if kind.is_none() {
        v.add("kind", "is required");
    }
    let entry_id = if request.entry_id.trim().is_empty() {
        None
    } else {
        Some(parse_id("entry_id", &request.entry_id)?)
    };
    let reasons = required_text(&mut v, "reasons", &request.reasons, 4_000);
    let change = text(&mut v, "requested_change", &request.requested_change, 4_000);
    v.finish()?;
    let kind = kind.unwrap_or_default();
    let row = hub_core::with_tx!(pool, tx, {
        if store::head(tx, &number).await?.is_none() {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        }
        if let Some(entry) = entry_id {
            let belongs: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM dossier_entries WHERE entry_id = $1 AND personnel_number = $2)",
            )
            .bind(entry)
            .bind(&number)
            .fetch_one(&mut **tx)
            .await?;
            if !belongs {
                return Err(ApiError::invalid(
                    "entry_id",
                    "is not an entry of this dossier",
                ));
            }
        }
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_subject_requests (personnel_number, kind, entry_id, reasons, requested_change, submitted_by, submitted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING request_id",
        )
        .bind(&number)
        .bind(kind)
        .bind(entry_id)
        .bind(&reasons)
        .bind(&change)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(load(tx, id, false).await?)
    })?;
    let row = row.ok_or_else(|| ApiError::not_found("the request vanished"))?;
    tracing::info!(request_id = %row.request_id, kind, actor = %caller.actor(), "subject request submitted");
    Ok(pb::SubmitSubjectRequestResponse {
        request: Some(row.into()),
    })
}

/// `DecideSubjectRequest`. A granted deletion removes the named entry; a
/// granted blocking or objection blocks it, so the matrix no longer shows
/// it. Corrections and completions are made as new entries by whoever holds
/// the write grant.
pub(crate) async fn decide(
    pool: &PgPool,
    caller: &Caller,
    request: pb::DecideSubjectRequestRequest,
    now: DateTime<Utc>,
) -> Result<pb::DecideSubjectRequestResponse, ApiError> {
    caller.require_records_manager()?;
    let id = parse_id("request_id", &request.request_id)?;
    let mut v = Violations::default();
    let decision = match pb::Decision::try_from(request.decision) {
        Ok(pb::Decision::Granted) => "granted",
        Ok(pb::Decision::PartiallyGranted) => "partially_granted",
        Ok(pb::Decision::Refused) => "refused",
        _ => {
            v.add("decision", "is required");
            ""
        }
    };
    if matches!(decision, "refused" | "partially_granted") && request.reasons.trim().is_empty() {
        v.add(
            "reasons",
            "a refusal, whole or partial, states its reasons (art 9.2, 10.2)",
        );
    }
    let reasons = text(&mut v, "reasons", &request.reasons, 4_000);
    v.finish()?;
    let row = hub_core::with_tx!(pool, tx, {
        let Some(row) = load(tx, id, true).await? else {
            return Err(ApiError::not_found("no request with that id"));
        };
        if row.decision.is_some() {
            return Err(ApiError::precondition(
                "the request has already been decided",
            ));
        }
        sqlx::query(
            "UPDATE dossier_subject_requests SET decision = $2, decision_reasons = $3, decided_by = $4, decided_at = $5
             WHERE request_id = $1",
        )
        .bind(id)
        .bind(decision)
        .bind(&reasons)
        .bind(caller.actor())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if let (Some(entry), "granted") = (row.entry_id, decision) {
            match row.kind.as_str() {
                "deletion" => {
                    sqlx::query("DELETE FROM dossier_entries WHERE entry_id = $1")
                        .bind(entry)
                        .execute(&mut **tx)
                        .await?;
                }
                "blocking" | "objection" => {
                    sqlx::query(
                        "UPDATE dossier_entries SET blocked_at = $2 WHERE entry_id = $1 AND blocked_at IS NULL",
                    )
                    .bind(entry)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                }
                _ => {}
            }
        }
        Ok::<_, ApiError>(load(tx, id, false).await?)
    })?;
    let row = row.ok_or_else(|| ApiError::not_found("the request vanished"))?;
    tracing::info!(request_id = %id, decision, "subject request decided");
    Ok(pb::DecideSubjectRequestResponse {
        request: Some(row.into()),
    })
}

/// `ListSubjectRequests`.
pub(crate) async fn list(
    pool: &PgPool,
    caller: &Caller,
    request: pb::ListSubjectRequestsRequest,
) -> Result<pb::ListSubjectRequestsResponse, ApiError> {
    let number = caller.subject_dossier(&request.personnel_number)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM dossier_subject_requests WHERE personnel_number = $1 ORDER BY submitted_at, request_id"
    );
    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&number)
        .fetch_all(pool)
        .await?;
    Ok(pb::ListSubjectRequestsResponse {
        requests: rows.into_iter().map(Into::into).collect(),
    })
}
