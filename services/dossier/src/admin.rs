//! The records manager keeps the authorisation matrix (art 7.2): grants,
//! approvals for restricted dossiers (art 7.6, 7.7), restrictions,
//! exemptions for archived dossiers (art 17.4), and reads the access log.

use chrono::{DateTime, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::caller::Caller;
use crate::convert::{
    self, check_number, from_timestamp, parse_date, personnel_number, required_text, text,
    timestamp,
};
use crate::error::{ApiError, Violations};
use crate::grants;
use crate::rules::{self, Nature, Restriction, Scope};
use crate::store;

/// A required time in the future.
fn future(
    v: &mut Violations,
    field: &str,
    ts: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match ts.and_then(from_timestamp) {
        Some(at) if at > now => Some(at),
        Some(_) => {
            v.add(field, "must be in the future");
            None
        }
        None => {
            v.add(field, "is required");
            None
        }
    }
}

/// `CreateGrant`.
pub(crate) async fn create_grant(
    pool: &PgPool,
    caller: &Caller,
    request: pb::CreateGrantRequest,
    now: DateTime<Utc>,
) -> Result<pb::CreateGrantResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let grantee = personnel_number(&mut v, "grantee", &request.grantee);
    let nature = convert::nature(request.nature);
    if nature.is_none() {
        v.add("nature", "is required");
    }
    let scope = convert::scope(&mut v, request.scope.as_ref());
    if nature == Some(Nature::Report) && matches!(scope, Some(Scope::Dossier(_))) {
        v.add(
            "scope.kind",
            "a report grant covers a branch, a unit or everything, never one dossier (art 4.1)",
        );
    }
    let from = request
        .valid_from
        .as_ref()
        .map_or(Some(now), from_timestamp);
    if from.is_none() {
        v.add("valid_from", "is not a valid time");
    }
    let until = future(&mut v, "valid_until", request.valid_until.as_ref(), now);
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        v.add("valid_until", "must be after valid_from");
    }
    let purpose = required_text(&mut v, "purpose", &request.purpose, 500);
    v.finish()?;
    let (Some(nature), Some(scope), Some(from), Some(until)) = (nature, scope, from, until) else {
        return Err(ApiError::invalid("grant", "is incomplete"));
    };
    let grant = hub_core::with_tx!(pool, tx, {
        if let Scope::Dossier(number) = &scope
            && store::head(tx, number).await?.is_none()
        {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        }
        if nature == Nature::Audit
            && grants::peak_audit_grants(tx, from, until).await? >= rules::MAX_ACTIVE_AUDIT_GRANTS
        {
            return Err(ApiError::precondition(
                "five audit grants are already active in that period; at most five are allowed at once (art 4.2)",
            ));
        }
        let (kind, value) = scope.parts();
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_grants (grantee, nature, scope_kind, scope_value, valid_from, valid_until, purpose, granted_by, granted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING grant_id",
        )
        .bind(&grantee)
        .bind(nature.as_str())
        .bind(kind)
        .bind(value)
        .bind(from)
        .bind(until)
        .bind(&purpose)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(grants::one(tx, id, now).await?)
    })?;
    let grant = grant.ok_or_else(|| ApiError::not_found("the grant vanished"))?;
    tracing::info!(grant_id = %grant.grant_id, grantee = %grant.grantee, nature = nature.as_str(), "grant created");
    Ok(pb::CreateGrantResponse { grant: Some(grant) })
}

/// `EndGrant`.
pub(crate) async fn end_grant(
    pool: &PgPool,
    caller: &Caller,
    request: pb::EndGrantRequest,
    now: DateTime<Utc>,
) -> Result<pb::EndGrantResponse, ApiError> {
    caller.require_records_manager()?;
    let id = convert::parse_id("grant_id", &request.grant_id)?;
    let mut v = Violations::default();
    let reason = required_text(&mut v, "reason", &request.reason, 500);
    v.finish()?;
    let grant = hub_core::with_tx!(pool, tx, {
        let Some(row) = grants::row_for_update(tx, id).await? else {
            return Err(ApiError::not_found("no grant with that id"));
        };
        if row.ended_at.is_some() || now >= row.valid_until {
            return Err(ApiError::precondition("the grant has already ended"));
        }
        sqlx::query(
            "UPDATE dossier_grants SET ended_at = $2, ended_by = $3, end_reason = $4 WHERE grant_id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(caller.actor())
        .bind(&reason)
        .execute(&mut **tx)
        .await?;
        Ok::<_, ApiError>(grants::one(tx, id, now).await?)
    })?;
    tracing::info!(grant_id = %id, "grant ended");
    Ok(pb::EndGrantResponse { grant })
}

/// `ListGrants`.
pub(crate) async fn list_grants(
    pool: &PgPool,
    caller: &Caller,
    request: pb::ListGrantsRequest,
    now: DateTime<Utc>,
) -> Result<pb::ListGrantsResponse, ApiError> {
    caller.require_records_manager()?;
    let mut conn = pool.acquire().await?;
    let rows = grants::rows(&mut conn, &[], request.grantee.trim()).await?;
    let rows = rows
        .into_iter()
        .filter(|r| request.include_inactive || r.active(now))
        .collect();
    Ok(pb::ListGrantsResponse {
        grants: grants::to_pb(&mut conn, rows, now).await?,
    })
}

/// `RecordApproval`.
pub(crate) async fn record_approval(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RecordApprovalRequest,
    now: DateTime<Utc>,
) -> Result<pb::RecordApprovalResponse, ApiError> {
    caller.require_records_manager()?;
    let id = convert::parse_id("grant_id", &request.grant_id)?;
    let mut v = Violations::default();
    let restriction = convert::restriction(request.restriction).filter(|r| *r != Restriction::None);
    if restriction.is_none() {
        v.add(
            "restriction",
            "must be MIVD, SPECIAL_UNIT or MANAGEMENT_DEVELOPMENT",
        );
    }
    let unit = text(&mut v, "unit", &request.unit, 200);
    match restriction {
        Some(Restriction::SpecialUnit) if unit.is_empty() => {
            v.add(
                "unit",
                "is required: the unit whose head approved (art 7.7)",
            );
        }
        Some(Restriction::Mivd | Restriction::ManagementDevelopment) if !unit.is_empty() => {
            v.add("unit", "is only for SPECIAL_UNIT approvals");
        }
        _ => {}
    }
    check_number(&mut v, "approved_by", request.approved_by.trim());
    let reference = required_text(&mut v, "reference", &request.reference, 200);
    let approved_on = parse_date(&mut v, "approved_on", &request.approved_on);
    if approved_on.is_some_and(|d| d > now.date_naive()) {
        v.add("approved_on", "must not be in the future");
    }
    v.finish()?;
    let (Some(restriction), Some(approved_on)) = (restriction, approved_on) else {
        return Err(ApiError::invalid("approval", "is incomplete"));
    };
    let approval = hub_core::with_tx!(pool, tx, {
        let Some(row) = grants::row_for_update(tx, id).await? else {
            return Err(ApiError::not_found("no grant with that id"));
        };
        if !row.active(now) && row.valid_from <= now {
            return Err(ApiError::precondition("the grant has ended"));
        }
        if row.nature == Nature::Report.as_str() {
            return Err(ApiError::precondition(
                "report grants never open restricted dossiers; nothing to approve",
            ));
        }
        let approval_id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_grant_approvals (grant_id, restriction, basis, unit, approved_by, reference, approved_on, recorded_by, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING approval_id",
        )
        .bind(id)
        .bind(restriction.as_str())
        .bind(restriction.approval_basis())
        .bind(&unit)
        .bind(request.approved_by.trim())
        .bind(&reference)
        .bind(approved_on)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(grants::approval(tx, approval_id).await?)
    })?;
    tracing::info!(grant_id = %id, approval_id = %approval.approval_id, restriction = restriction.as_str(), "approval recorded");
    Ok(pb::RecordApprovalResponse {
        approval: Some(approval),
    })
}

/// `SetDossierRestriction`.
pub(crate) async fn set_restriction(
    pool: &PgPool,
    caller: &Caller,
    request: pb::SetDossierRestrictionRequest,
) -> Result<pb::SetDossierRestrictionResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = request.personnel_number.trim();
    check_number(&mut v, "personnel_number", number);
    let restriction = convert::restriction(request.restriction);
    if restriction.is_none() {
        v.add("restriction", "is required");
    }
    v.finish()?;
    let restriction = restriction.unwrap_or(Restriction::None);
    let updated = sqlx::query(
        "UPDATE dossiers SET restriction = $2, updated_at = now() WHERE personnel_number = $1",
    )
    .bind(number)
    .bind(restriction.as_str())
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::not_found("no dossier with that personnel number"));
    }
    tracing::info!(dossier = %number, restriction = restriction.as_str(), "dossier restriction set");
    Ok(pb::SetDossierRestrictionResponse {
        restriction: request.restriction,
    })
}

/// `RecordExemption`.
pub(crate) async fn record_exemption(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RecordExemptionRequest,
    now: DateTime<Utc>,
) -> Result<pb::RecordExemptionResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = personnel_number(&mut v, "personnel_number", &request.personnel_number);
    let grantee = personnel_number(&mut v, "grantee", &request.grantee);
    let procedure = match pb::ExemptionProcedure::try_from(request.procedure) {
        Ok(pb::ExemptionProcedure::Objection) => "objection",
        Ok(pb::ExemptionProcedure::Appeal) => "appeal",
        _ => {
            v.add("procedure", "must be OBJECTION or APPEAL (art 17.4)");
            ""
        }
    };
    let reference = required_text(
        &mut v,
        "decision_reference",
        &request.decision_reference,
        200,
    );
    let until = future(&mut v, "valid_until", request.valid_until.as_ref(), now);
    v.finish()?;
    let until = until.unwrap_or(now);
    let id = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head_for_update(tx, &number).await? else {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        };
        let Some(archived_at) = head.archived_at else {
            return Err(ApiError::precondition(
                "the dossier is not archived; exemptions are for archived dossiers (art 17.4)",
            ));
        };
        if !rules::exemption_possible(archived_at, now) {
            return Err(ApiError::precondition(
                "the dossier was archived more than five years ago: no exemption is possible (art 17.4)",
            ));
        }
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_exemptions (personnel_number, grantee, procedure, decision_reference, valid_until, granted_by, granted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING exemption_id",
        )
        .bind(&number)
        .bind(&grantee)
        .bind(procedure)
        .bind(&reference)
        .bind(until)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(id)
    })?;
    tracing::info!(exemption_id = %id, dossier = %number, grantee = %grantee, "exemption recorded");
    Ok(pb::RecordExemptionResponse {
        exemption: Some(pb::Exemption {
            exemption_id: id.to_string(),
            personnel_number: number,
            grantee,
            procedure: request.procedure,
            decision_reference: reference,
            valid_until: Some(timestamp(until)),
            granted_by: caller.actor().to_owned(),
            granted_at: Some(timestamp(now)),
        }),
    })
}

/// `ListAccessLog`.
pub(crate) async fn list_access_log(
    pool: &PgPool,
    caller: &Caller,
    request: pb::ListAccessLogRequest,
) -> Result<pb::ListAccessLogResponse, ApiError> {
    caller.require_records_manager()?;
    let limit = if request.limit == 0 {
        1_000
    } else {
        request.limit.min(10_000)
    };
    let mut conn = pool.acquire().await?;
    let records = store::access_log(
        &mut conn,
        request.personnel_number.trim(),
        request.actor.trim(),
        i64::from(limit),
        false,
    )
    .await?;
    Ok(pb::ListAccessLogResponse { records })
}
