//! Inspection by the employee (art 8.1) and by next of kin in the first
//! degree of a deceased employee (art 8.3).

use chrono::{DateTime, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::caller::Caller;
use crate::convert::{
    check_number, date_text, parse_date, personnel_number, required_text, timestamp,
};
use crate::error::{ApiError, Violations};
use crate::store::{self, AccessRecord};

/// The whole access log of one dossier is returned on inspection; this
/// bounds it for a dossier read very often.
const INSPECTION_LOG_LIMIT: i64 = 10_000;

/// `InspectOwnDossier`: the dossier, blocked entries included, and every
/// access to it, this inspection included.
pub(crate) async fn inspect_own(
    pool: &PgPool,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<pb::InspectOwnDossierResponse, ApiError> {
    let own = caller.require_person()?;
    let response = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head(tx, own).await? else {
            return Err(ApiError::not_found(
                "there is no dossier under your personnel number",
            ));
        };
        let record = AccessRecord {
            actor: own,
            personnel_number: Some(own),
            action: "inspect",
            allowed: true,
            basis: "subject",
            grant_id: None,
            exemption_id: None,
            reason: "",
        };
        store::log_access(tx, &record, now).await?;
        let dossier = store::dossier(tx, head, true).await?;
        let access_log = store::access_log(tx, own, "", INSPECTION_LOG_LIMIT, true).await?;
        Ok::<_, ApiError>(pb::InspectOwnDossierResponse {
            dossier: Some(dossier),
            access_log,
        })
    })?;
    tracing::info!(actor = %own, "own dossier inspected");
    Ok(response)
}

/// `RecordDeath`.
pub(crate) async fn record_death(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RecordDeathRequest,
    now: DateTime<Utc>,
) -> Result<pb::RecordDeathResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = request.personnel_number.trim();
    check_number(&mut v, "personnel_number", number);
    let date = parse_date(&mut v, "date_of_death", &request.date_of_death);
    if date.is_some_and(|d| d > now.date_naive()) {
        v.add("date_of_death", "must not be in the future");
    }
    v.finish()?;
    let updated = sqlx::query(
        "UPDATE dossiers SET date_of_death = $2, updated_at = $3 WHERE personnel_number = $1",
    )
    .bind(number)
    .bind(date)
    .bind(now)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::not_found("no dossier with that personnel number"));
    }
    tracing::info!(dossier = %number, "death recorded");
    Ok(pb::RecordDeathResponse {
        date_of_death: date_text(date),
    })
}

/// `RegisterNextOfKin`.
pub(crate) async fn register_next_of_kin(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RegisterNextOfKinRequest,
    now: DateTime<Utc>,
) -> Result<pb::RegisterNextOfKinResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = personnel_number(&mut v, "personnel_number", &request.personnel_number);
    let next_of_kin = personnel_number(&mut v, "next_of_kin", &request.next_of_kin);
    // Art 8.3 speaks of next of kin in the first degree: parents and
    // children of the deceased.
    let kinship = match pb::Kinship::try_from(request.kinship) {
        Ok(pb::Kinship::Parent) => "parent",
        Ok(pb::Kinship::Child) => "child",
        _ => {
            v.add("kinship", "must be PARENT or CHILD (first degree, art 8.3)");
            ""
        }
    };
    let evidence = required_text(
        &mut v,
        "evidence_reference",
        &request.evidence_reference,
        200,
    );
    v.finish()?;
    let id = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head_for_update(tx, &number).await? else {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        };
        if head.date_of_death.is_none() {
            return Err(ApiError::precondition(
                "no date of death is recorded for this dossier; record it first (art 8.3)",
            ));
        }
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_next_of_kin (personnel_number, next_of_kin, relationship, evidence_reference, registered_by, registered_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&number)
        .bind(&next_of_kin)
        .bind(kinship)
        .bind(&evidence)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(id)
    })?;
    tracing::info!(dossier = %number, next_of_kin = %next_of_kin, "next of kin registered");
    Ok(pb::RegisterNextOfKinResponse {
        next_of_kin: Some(pb::NextOfKin {
            id: id.to_string(),
            personnel_number: number,
            next_of_kin,
            kinship: request.kinship,
            evidence_reference: evidence,
            registered_by: caller.actor().to_owned(),
            registered_at: Some(timestamp(now)),
        }),
    })
}

/// `InspectDeceasedDossier`: for a registered next of kin of a deceased
/// employee. Anyone else is refused without learning whether the dossier
/// exists or its subject died; the attempt is logged.
pub(crate) async fn inspect_deceased(
    pool: &PgPool,
    caller: &Caller,
    request: pb::InspectDeceasedDossierRequest,
    now: DateTime<Utc>,
) -> Result<pb::InspectDeceasedDossierResponse, ApiError> {
    let person = caller.require_person()?;
    let mut v = Violations::default();
    let number = personnel_number(&mut v, "personnel_number", &request.personnel_number);
    v.finish()?;
    let response = hub_core::with_tx!(pool, tx, {
        let head = store::head(tx, &number).await?;
        let registered: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM dossier_next_of_kin WHERE personnel_number = $1 AND next_of_kin = $2)",
        )
        .bind(&number)
        .bind(person)
        .fetch_one(&mut **tx)
        .await?;
        let head = head.filter(|h| registered && h.date_of_death.is_some());
        let record = AccessRecord {
            actor: person,
            personnel_number: Some(&number),
            action: "next_of_kin_inspect",
            allowed: head.is_some(),
            basis: if head.is_some() {
                "next_of_kin"
            } else {
                "none"
            },
            grant_id: None,
            exemption_id: None,
            reason: if head.is_some() {
                ""
            } else {
                "not_registered_next_of_kin"
            },
        };
        store::log_access(tx, &record, now).await?;
        let Some(head) = head else {
            return Ok(None);
        };
        let dossier = store::dossier(tx, head, false).await?;
        let access_log = store::access_log(tx, &number, "", INSPECTION_LOG_LIMIT, true).await?;
        Ok::<_, ApiError>(Some(pb::InspectDeceasedDossierResponse {
            dossier: Some(dossier),
            access_log,
        }))
    })?;
    tracing::info!(actor = %person, dossier = %number, allowed = response.is_some(), "next of kin inspection");
    response.ok_or_else(|| {
        ApiError::denied("only a registered next of kin in the first degree of a deceased employee may inspect this dossier (art 8.3)")
    })
}
