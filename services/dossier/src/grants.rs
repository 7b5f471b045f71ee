//! Grants of the authorisation matrix as rows and on the wire, and the
//! art 4.2 limit on audit grants.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::convert::{date_text, nature_pb, opt_timestamp, restriction_pb, scope_pb, timestamp};
use crate::rules::{Nature, Scope};

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    pub(crate) grant_id: Uuid,
    pub(crate) grantee: String,
    pub(crate) nature: String,
    pub(crate) scope_kind: String,
    pub(crate) scope_value: String,
    pub(crate) valid_from: DateTime<Utc>,
    pub(crate) valid_until: DateTime<Utc>,
    pub(crate) purpose: String,
    pub(crate) granted_by: String,
    pub(crate) granted_at: DateTime<Utc>,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) ended_by: Option<String>,
    pub(crate) end_reason: Option<String>,
    pub(crate) replaced_by: Option<Uuid>,
}

impl GrantRow {
    /// Active at `now`.
    pub(crate) fn active(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now < self.valid_until && self.ended_at.is_none_or(|e| now < e)
    }
}

const GRANT_COLUMNS: &str =
    "grant_id, grantee, nature, scope_kind, scope_value, valid_from, valid_until,
     purpose, granted_by, granted_at, ended_at, ended_by, end_reason, replaced_by";

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    approval_id: Uuid,
    grant_id: Uuid,
    restriction: String,
    basis: String,
    unit: String,
    approved_by: String,
    reference: String,
    approved_on: NaiveDate,
    recorded_by: String,
    recorded_at: DateTime<Utc>,
}

impl From<ApprovalRow> for pb::Approval {
    fn from(a: ApprovalRow) -> Self {
        pb::Approval {
            approval_id: a.approval_id.to_string(),
            grant_id: a.grant_id.to_string(),
            restriction: restriction_pb(&a.restriction).into(),
            basis: match a.basis.as_str() {
                "mivd_hdp_agreement" => pb::ApprovalBasis::MivdHdpAgreement,
                "unit_head" => pb::ApprovalBasis::UnitHead,
                _ => pb::ApprovalBasis::Unspecified,
            }
            .into(),
            unit: a.unit,
            approved_by: a.approved_by,
            reference: a.reference,
            approved_on: date_text(Some(a.approved_on)),
            recorded_by: a.recorded_by,
            recorded_at: Some(timestamp(a.recorded_at)),
        }
    }
}

/// The approval with id `id` on the wire.
pub(crate) async fn approval(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<pb::Approval, sqlx::Error> {
    let row: ApprovalRow = sqlx::query_as(
        "SELECT approval_id, grant_id, restriction, basis, unit, approved_by, reference, approved_on,
                recorded_by, recorded_at
         FROM dossier_grant_approvals WHERE approval_id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Grant rows: by id (`ids` non-empty) or by grantee (empty: all).
pub(crate) async fn rows(
    conn: &mut PgConnection,
    ids: &[Uuid],
    grantee: &str,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM dossier_grants
         WHERE (cardinality($1::uuid[]) = 0 OR grant_id = ANY($1))
           AND ($2 = '' OR grantee = $2)
         ORDER BY granted_at, grant_id"
    );
    // `GRANT_COLUMNS` is a constant.
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(grantee)
        .fetch_all(conn)
        .await
}

/// One grant row, locked for update.
pub(crate) async fn row_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<GrantRow>, sqlx::Error> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM dossier_grants WHERE grant_id = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// `rows` on the wire, with their approvals.
pub(crate) async fn to_pb(
    conn: &mut PgConnection,
    rows: Vec<GrantRow>,
    now: DateTime<Utc>,
) -> Result<Vec<pb::Grant>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.grant_id).collect();
    let approvals: Vec<ApprovalRow> = sqlx::query_as(
        "SELECT approval_id, grant_id, restriction, basis, unit, approved_by, reference, approved_on,
                recorded_by, recorded_at
         FROM dossier_grant_approvals WHERE grant_id = ANY($1) ORDER BY recorded_at",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut by_grant: HashMap<Uuid, Vec<pb::Approval>> = HashMap::new();
    for a in approvals {
        by_grant.entry(a.grant_id).or_default().push(a.into());
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let active = r.active(now);
            let nature = Nature::parse(&r.nature).map_or(pb::GrantNature::Unspecified, nature_pb);
            let scope = Scope::from_parts(&r.scope_kind, &r.scope_value).map(|s| scope_pb(&s));
            pb::Grant {
                approvals: by_grant.remove(&r.grant_id).unwrap_or_default(),
                grant_id: r.grant_id.to_string(),
                grantee: r.grantee,
                nature: nature.into(),
                scope,
                valid_from: Some(timestamp(r.valid_from)),
                valid_until: Some(timestamp(r.valid_until)),
                purpose: r.purpose,
                granted_by: r.granted_by,
                granted_at: Some(timestamp(r.granted_at)),
                ended_at: opt_timestamp(r.ended_at),
                ended_by: r.ended_by.unwrap_or_default(),
                end_reason: r.end_reason.unwrap_or_default(),
                replaced_by_grant_id: r.replaced_by.map(|g| g.to_string()).unwrap_or_default(),
                active,
            }
        })
        .collect())
}

/// One grant on the wire.
pub(crate) async fn one(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<pb::Grant>, sqlx::Error> {
    let rows = rows(&mut *conn, &[id], "").await?;
    Ok(to_pb(conn, rows, now).await?.into_iter().next())
}

/// The most audit grants active at one instant within `[from, until)`,
/// counting the grants already recorded. Active sets only grow at a start,
/// so the maximum is reached at `from` or at a later start inside the
/// window.
pub(crate) async fn peak_audit_grants(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    // Serialises audit grants, so two concurrent calls cannot both take the
    // fifth place. Released at the end of the transaction.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('hub_dossier_audit_grants'))")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "SELECT coalesce(max(c), 0) FROM (
             SELECT (SELECT count(*) FROM dossier_grants g
                     WHERE g.nature = 'audit' AND g.valid_from <= p.t
                       AND p.t < least(g.valid_until, coalesce(g.ended_at, 'infinity'))) AS c
             FROM (SELECT $1::timestamptz AS t
                   UNION SELECT valid_from FROM dossier_grants
                         WHERE nature = 'audit' AND valid_from > $1 AND valid_from < $2) p
         ) peaks",
    )
    .bind(from)
    .bind(until)
    .fetch_one(conn)
    .await
}
