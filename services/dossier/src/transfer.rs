//! Transfer of the dossier (art 16): inside Defensie the new manager is
//! authorised and the transferring manager's authorisation ends (16.1);
//! outside Defensie only with the employee's consent (16.2).

use chrono::{DateTime, Utc};
use hub_proto::dossier::v1 as pb;
use hub_proto::dossier::v1::transfer_dossier_request::Destination;
use sqlx::PgPool;
use uuid::Uuid;

use crate::caller::Caller;
use crate::convert::{
    check_number, from_timestamp, personnel_number, required_text, text, timestamp,
};
use crate::error::{ApiError, Violations};
use crate::grants;
use crate::store::{self, AccessRecord};

/// `RecordTransferConsent`: the employee records it for their own dossier
/// (the authenticated call is the consent), or the records manager records
/// a written consent, naming its reference.
pub(crate) async fn record_consent(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RecordTransferConsentRequest,
    now: DateTime<Utc>,
) -> Result<pb::RecordTransferConsentResponse, ApiError> {
    let number = caller.subject_dossier(&request.personnel_number)?;
    let mut v = Violations::default();
    let recipient = required_text(&mut v, "recipient", &request.recipient, 200);
    if *caller == Caller::RecordsManager {
        v.require("evidence_reference", &request.evidence_reference);
    }
    let evidence = text(
        &mut v,
        "evidence_reference",
        &request.evidence_reference,
        200,
    );
    v.finish()?;
    let id = hub_core::with_tx!(pool, tx, {
        if store::head(tx, &number).await?.is_none() {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        }
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_transfer_consents (personnel_number, recipient, evidence_reference, recorded_by, recorded_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING consent_id",
        )
        .bind(&number)
        .bind(&recipient)
        .bind(&evidence)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok::<_, ApiError>(id)
    })?;
    tracing::info!(consent_id = %id, dossier = %number, "transfer consent recorded");
    Ok(pb::RecordTransferConsentResponse {
        consent: Some(pb::TransferConsent {
            consent_id: id.to_string(),
            personnel_number: number,
            recipient,
            evidence_reference: evidence,
            recorded_by: caller.actor().to_owned(),
            recorded_at: Some(timestamp(now)),
        }),
    })
}

/// `TransferDossier`.
pub(crate) async fn transfer(
    pool: &PgPool,
    caller: &Caller,
    request: pb::TransferDossierRequest,
    now: DateTime<Utc>,
) -> Result<pb::TransferDossierResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = personnel_number(&mut v, "personnel_number", &request.personnel_number);
    match request.destination {
        Some(Destination::InsideDefensie(inside)) => {
            check_number(
                &mut v,
                "inside_defensie.new_manager",
                inside.new_manager.trim(),
            );
            let branch = text(
                &mut v,
                "inside_defensie.defence_branch",
                &inside.defence_branch,
                200,
            );
            let unit = text(&mut v, "inside_defensie.unit", &inside.unit, 200);
            let until = inside.valid_until.as_ref().and_then(from_timestamp);
            if until.is_none_or(|u| u <= now) {
                v.add("inside_defensie.valid_until", "is required, in the future");
            }
            v.finish()?;
            let inside = Inside {
                number,
                manager: inside.new_manager.trim().to_owned(),
                branch,
                unit,
                until: until.unwrap_or(now),
            };
            transfer_inside(pool, caller, inside, now).await
        }
        Some(Destination::OutsideDefensie(outside)) => {
            let recipient = required_text(
                &mut v,
                "outside_defensie.recipient",
                &outside.recipient,
                200,
            );
            v.finish()?;
            transfer_outside(pool, caller, &number, &recipient, now).await
        }
        None => {
            v.add(
                "destination",
                "is required: inside_defensie or outside_defensie",
            );
            v.finish()?;
            Err(ApiError::invalid("destination", "is required"))
        }
    }
}

struct Inside {
    number: String,
    manager: String,
    branch: String,
    unit: String,
    until: DateTime<Utc>,
}

/// Art 16.1: authorise the new manager, end the transferring manager's
/// write grants on this dossier (each points to its replacement). For a
/// restricted dossier the new grant needs its own approval (art 16.1 refers
/// to art 7.6 and 7.7).
async fn transfer_inside(
    pool: &PgPool,
    caller: &Caller,
    inside: Inside,
    now: DateTime<Utc>,
) -> Result<pb::TransferDossierResponse, ApiError> {
    let (transfer_id, new_grant, ended) = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head_for_update(tx, &inside.number).await? else {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        };
        if head.archived_at.is_some() {
            return Err(ApiError::precondition(
                "an archived dossier is not transferred",
            ));
        }
        let new_id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_grants (grantee, nature, scope_kind, scope_value, valid_from, valid_until, purpose, granted_by, granted_at)
             VALUES ($1, 'write', 'dossier', $2, $3, $4, 'manager of the dossier after a transfer inside Defensie (art 16.1)', $5, $3)
             RETURNING grant_id",
        )
        .bind(&inside.manager)
        .bind(&inside.number)
        .bind(now)
        .bind(inside.until)
        .bind(caller.actor())
        .fetch_one(&mut **tx)
        .await?;
        let ended: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE dossier_grants g SET ended_at = $2, ended_by = $3,
                 end_reason = 'transferred inside Defensie (art 16.1)', replaced_by = $4
             WHERE g.scope_kind = 'dossier' AND g.scope_value = $1 AND g.nature = 'write'
               AND g.grant_id <> $4 AND g.valid_from <= $2 AND $2 < g.valid_until
               AND (g.ended_at IS NULL OR $2 < g.ended_at)
             RETURNING g.grant_id",
        )
        .bind(&inside.number)
        .bind(now)
        .bind(caller.actor())
        .bind(new_id)
        .fetch_all(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE dossiers SET defence_branch = CASE WHEN $2 = '' THEN defence_branch ELSE $2 END,
                 unit = CASE WHEN $3 = '' THEN unit ELSE $3 END, updated_at = $4
             WHERE personnel_number = $1",
        )
        .bind(&inside.number)
        .bind(&inside.branch)
        .bind(&inside.unit)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let transfer_id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_transfers (personnel_number, destination, recipient, new_grant_id, transferred_by, transferred_at)
             VALUES ($1, 'inside_defensie', $2, $3, $4, $5) RETURNING transfer_id",
        )
        .bind(&inside.number)
        .bind(&inside.manager)
        .bind(new_id)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let new_grant = grants::one(tx, new_id, now).await?;
        // `rows` with no ids lists every grant, so ask only when some ended.
        let ended = if ended.is_empty() {
            Vec::new()
        } else {
            let rows = grants::rows(tx, &ended, "").await?;
            grants::to_pb(tx, rows, now).await?
        };
        Ok::<_, ApiError>((transfer_id, new_grant, ended))
    })?;
    tracing::info!(
        transfer_id = %transfer_id,
        dossier = %inside.number,
        new_manager = %inside.manager,
        ended_grants = ended.len(),
        "dossier transferred inside defensie"
    );
    Ok(pb::TransferDossierResponse {
        transfer_id: transfer_id.to_string(),
        new_grant,
        ended_grants: ended,
        dossier: None,
    })
}

/// Art 16.2: only with the employee's recorded consent for this recipient.
/// The attempt is logged either way.
async fn transfer_outside(
    pool: &PgPool,
    caller: &Caller,
    number: &str,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<pb::TransferDossierResponse, ApiError> {
    let outcome = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head_for_update(tx, number).await? else {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        };
        let consent: Option<Uuid> = sqlx::query_scalar(
            "SELECT consent_id FROM dossier_transfer_consents
             WHERE personnel_number = $1 AND lower(btrim(recipient)) = lower($2) AND recorded_at <= $3
             ORDER BY recorded_at DESC LIMIT 1",
        )
        .bind(number)
        .bind(recipient)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let refusal = if head.archived_at.is_some() {
            Some(("archived", "an archived dossier is not transferred"))
        } else if consent.is_none() {
            Some((
                "no_consent",
                "a transfer outside Defensie needs the employee's recorded consent for that recipient (art 16.2)",
            ))
        } else {
            None
        };
        let record = AccessRecord {
            actor: caller.actor(),
            personnel_number: Some(number),
            action: "transfer_out",
            allowed: refusal.is_none(),
            basis: if refusal.is_none() { "consent" } else { "none" },
            grant_id: None,
            exemption_id: None,
            reason: refusal.map(|(code, _)| code).unwrap_or_default(),
        };
        store::log_access(tx, &record, now).await?;
        if let Some((_, message)) = refusal {
            return Ok(Err(message));
        }
        let transfer_id: Uuid = sqlx::query_scalar(
            "INSERT INTO dossier_transfers (personnel_number, destination, recipient, consent_id, transferred_by, transferred_at)
             VALUES ($1, 'outside_defensie', $2, $3, $4, $5) RETURNING transfer_id",
        )
        .bind(number)
        .bind(recipient)
        .bind(consent)
        .bind(caller.actor())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let dossier = store::dossier(tx, head, false).await?;
        Ok::<_, ApiError>(Ok((transfer_id, dossier)))
    })?;
    let (transfer_id, dossier) = outcome.map_err(|message| {
        tracing::info!(dossier = %number, "transfer outside defensie refused");
        ApiError::precondition(message)
    })?;
    tracing::info!(transfer_id = %transfer_id, dossier = %number, "dossier transferred outside defensie");
    Ok(pb::TransferDossierResponse {
        transfer_id: transfer_id.to_string(),
        new_grant: None,
        ended_grants: Vec::new(),
        dossier: Some(dossier),
    })
}
