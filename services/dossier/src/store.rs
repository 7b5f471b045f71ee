//! Reading dossiers, grants and the access log from PostgreSQL, and writing
//! the access log. Callers pass a connection (usually a transaction), so a
//! decision, its log record and the data it opens are one unit.

use chrono::{DateTime, NaiveDate, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::convert::{date_text, opt_timestamp, restriction_pb, timestamp};
use crate::rules::{ActiveGrant, Approval, DossierFacts, Nature, Restriction, Scope};

/// The head row of a dossier. No `Debug`: it holds personal data (rank,
/// unit), and a stray `{:?}` must not put it in a log.
#[derive(Clone, sqlx::FromRow)]
pub(crate) struct Head {
    pub(crate) personnel_number: String,
    pub(crate) status: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) defence_branch: String,
    pub(crate) unit: String,
    pub(crate) rank: String,
    pub(crate) salary_scale: i32,
    pub(crate) restriction: String,
    pub(crate) employment_end_date: Option<NaiveDate>,
    pub(crate) archived_at: Option<DateTime<Utc>>,
    pub(crate) date_of_death: Option<NaiveDate>,
}

impl Head {
    /// What the access rules need.
    pub(crate) fn facts(&self) -> DossierFacts {
        DossierFacts {
            personnel_number: self.personnel_number.clone(),
            defence_branch: self.defence_branch.clone(),
            unit: self.unit.clone(),
            // An unknown stored value is treated as the strictest class.
            restriction: Restriction::parse(&self.restriction).unwrap_or(Restriction::Mivd),
            archived_at: self.archived_at,
        }
    }
}

const HEAD_COLUMNS: &str =
    "personnel_number, status, created_at, defence_branch, unit, rank, salary_scale,
     restriction, employment_end_date, archived_at, date_of_death";

/// The head of dossier `number`, if it exists.
pub(crate) async fn head(
    conn: &mut PgConnection,
    number: &str,
) -> Result<Option<Head>, sqlx::Error> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM dossiers WHERE personnel_number = $1");
    // `HEAD_COLUMNS` is a constant, never input.
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .fetch_optional(conn)
        .await
}

/// The head of dossier `number`, locked for an update in this transaction.
pub(crate) async fn head_for_update(
    conn: &mut PgConnection,
    number: &str,
) -> Result<Option<Head>, sqlx::Error> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM dossiers WHERE personnel_number = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .fetch_optional(conn)
        .await
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    entry_id: Uuid,
    hr_process: String,
    category: String,
    source_message_id: String,
    recorded_at: DateTime<Utc>,
    content: serde_json::Value,
    blocked_at: Option<DateTime<Utc>>,
}

/// An entry on the wire.
pub(crate) fn entry_pb(
    entry_id: Uuid,
    hr_process: String,
    category: String,
    source_message_id: String,
    recorded_at: DateTime<Utc>,
    content: &serde_json::Value,
    blocked: bool,
) -> pb::Entry {
    pb::Entry {
        entry_id: entry_id.to_string(),
        hr_process,
        category,
        source_message_id,
        recorded_at: Some(timestamp(recorded_at)),
        content_json: content.to_string(),
        blocked,
    }
}

/// The full dossier behind `head`. Blocked entries are left out unless
/// `with_blocked` (the employee's own inspection).
pub(crate) async fn dossier(
    conn: &mut PgConnection,
    head: Head,
    with_blocked: bool,
) -> Result<pb::Dossier, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT entry_id, hr_process, category, source_message_id, recorded_at, content, blocked_at
         FROM dossier_entries WHERE personnel_number = $1 AND ($2 OR blocked_at IS NULL)
         ORDER BY recorded_at, category",
    )
    .bind(&head.personnel_number)
    .bind(with_blocked)
    .fetch_all(conn)
    .await?;
    let entries = rows
        .into_iter()
        .map(|r| {
            entry_pb(
                r.entry_id,
                r.hr_process,
                r.category,
                r.source_message_id,
                r.recorded_at,
                &r.content,
                r.blocked_at.is_some(),
            )
        })
        .collect();
    Ok(pb::Dossier {
        restriction: restriction_pb(&head.restriction).into(),
        personnel_number: head.personnel_number,
        status: head.status,
        created_at: Some(timestamp(head.created_at)),
        entries,
        defence_branch: head.defence_branch,
        unit: head.unit,
        rank: head.rank,
        salary_scale: head.salary_scale,
        employment_end_date: date_text(head.employment_end_date),
        archived_at: opt_timestamp(head.archived_at),
        date_of_death: date_text(head.date_of_death),
    })
}

/// The SQL condition "grant `g` is active at `$now`".
pub(crate) const ACTIVE_AT: &str =
    "g.valid_from <= $2 AND $2 < g.valid_until AND (g.ended_at IS NULL OR $2 < g.ended_at)";

/// A grant row with the restrictions and units of its approvals.
type GrantWithApprovals = (Uuid, String, String, String, Vec<String>, Vec<String>);

/// The grants of `grantee` active at `now`, with their approvals.
pub(crate) async fn active_grants(
    conn: &mut PgConnection,
    grantee: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ActiveGrant>, sqlx::Error> {
    let sql = format!(
        "SELECT g.grant_id, g.nature, g.scope_kind, g.scope_value,
                coalesce(array_agg(a.restriction) FILTER (WHERE a.approval_id IS NOT NULL), '{{}}'),
                coalesce(array_agg(a.unit) FILTER (WHERE a.approval_id IS NOT NULL), '{{}}')
         FROM dossier_grants g LEFT JOIN dossier_grant_approvals a ON a.grant_id = g.grant_id
         WHERE g.grantee = $1 AND {ACTIVE_AT}
         GROUP BY g.grant_id"
    );
    let rows: Vec<GrantWithApprovals> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(grantee)
        .bind(now)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, nature, kind, value, restrictions, units)| {
            Some(ActiveGrant {
                id,
                nature: Nature::parse(&nature)?,
                scope: Scope::from_parts(&kind, &value)?,
                approvals: restrictions
                    .iter()
                    .zip(units)
                    .filter_map(|(r, unit)| {
                        Some(Approval {
                            restriction: Restriction::parse(r)?,
                            unit,
                        })
                    })
                    .collect(),
            })
        })
        .collect())
}

/// An exemption for `grantee` on archived dossier `number`, valid at `now`.
pub(crate) async fn exemption(
    conn: &mut PgConnection,
    number: &str,
    grantee: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT exemption_id FROM dossier_exemptions
         WHERE personnel_number = $1 AND grantee = $2 AND $3 < valid_until AND granted_at <= $3
         ORDER BY valid_until DESC LIMIT 1",
    )
    .bind(number)
    .bind(grantee)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// One record for the access log.
#[derive(Debug)]
pub(crate) struct AccessRecord<'a> {
    pub(crate) actor: &'a str,
    pub(crate) personnel_number: Option<&'a str>,
    /// `read`, `write`, `report`, `inspect`, `next_of_kin_inspect`,
    /// `transfer_out`.
    pub(crate) action: &'static str,
    pub(crate) allowed: bool,
    /// `none`, `grant`, `records_manager`, `subject`, `next_of_kin`,
    /// `consent`.
    pub(crate) basis: &'static str,
    pub(crate) grant_id: Option<Uuid>,
    pub(crate) exemption_id: Option<Uuid>,
    pub(crate) reason: &'a str,
}

/// Appends `record` to the access log.
pub(crate) async fn log_access(
    conn: &mut PgConnection,
    record: &AccessRecord<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dossier_access_log
             (at, actor, personnel_number, action, outcome, basis, grant_id, exemption_id, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(now)
    .bind(record.actor)
    .bind(record.personnel_number)
    .bind(record.action)
    .bind(if record.allowed { "allowed" } else { "denied" })
    .bind(record.basis)
    .bind(record.grant_id)
    .bind(record.exemption_id)
    .bind(record.reason)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    personnel_number: Option<String>,
    action: String,
    outcome: String,
    basis: String,
    grant_id: Option<Uuid>,
    exemption_id: Option<Uuid>,
    reason: String,
}

fn action_pb(action: &str) -> pb::AccessAction {
    match action {
        "read" => pb::AccessAction::Read,
        "write" => pb::AccessAction::Write,
        "report" => pb::AccessAction::Report,
        "inspect" => pb::AccessAction::Inspect,
        "next_of_kin_inspect" => pb::AccessAction::NextOfKinInspect,
        "transfer_out" => pb::AccessAction::TransferOut,
        _ => pb::AccessAction::Unspecified,
    }
}

impl From<LogRow> for pb::AccessLogRecord {
    fn from(r: LogRow) -> Self {
        pb::AccessLogRecord {
            id: r.id,
            at: Some(timestamp(r.at)),
            actor: r.actor,
            personnel_number: r.personnel_number.unwrap_or_default(),
            action: action_pb(&r.action).into(),
            outcome: if r.outcome == "allowed" {
                pb::AccessOutcome::Allowed
            } else {
                pb::AccessOutcome::Denied
            }
            .into(),
            basis: r.basis,
            grant_id: r.grant_id.map(|g| g.to_string()).unwrap_or_default(),
            exemption_id: r.exemption_id.map(|e| e.to_string()).unwrap_or_default(),
            reason: r.reason,
        }
    }
}

/// Access-log records, filtered by dossier and actor (empty: any), oldest
/// first when `oldest_first`, else newest first.
pub(crate) async fn access_log(
    conn: &mut PgConnection,
    number: &str,
    actor: &str,
    limit: i64,
    oldest_first: bool,
) -> Result<Vec<pb::AccessLogRecord>, sqlx::Error> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    // `order` is one of two constants.
    let sql = format!(
        "SELECT id, at, actor, personnel_number, action, outcome, basis, grant_id, exemption_id, reason
         FROM dossier_access_log
         WHERE ($1 = '' OR personnel_number = $1) AND ($2 = '' OR actor = $2)
         ORDER BY id {order} LIMIT $3"
    );
    let rows: Vec<LogRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .bind(actor)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}
