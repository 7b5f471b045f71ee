//! Access through the authorisation matrix (art 7): reading a dossier,
//! adding an entry, and aggregate reports (art 4.1).

use chrono::{DateTime, Utc};
use hub_proto::dossier::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::access;
use crate::caller::Caller;
use crate::convert::is_personnel_number;
use crate::error::{ApiError, Violations};
use crate::rules::{self, Action, Nature, Scope};
use crate::store::{self, AccessRecord};

fn number_of(field: &str, text: &str) -> Result<String, ApiError> {
    let number = text.trim();
    if is_personnel_number(number) {
        Ok(number.to_owned())
    } else {
        Err(ApiError::invalid(field, "must be a personnel number"))
    }
}

/// `GetDossier`.
pub(crate) async fn get_dossier(
    pool: &PgPool,
    caller: &Caller,
    request: pb::GetDossierRequest,
    now: DateTime<Utc>,
) -> Result<pb::GetDossierResponse, ApiError> {
    let number = number_of("personnel_number", &request.personnel_number)?;
    let dossier = hub_core::with_tx!(pool, tx, {
        match access::open(tx, caller, &number, Action::Read, now).await? {
            Ok(opened) => Ok::<_, ApiError>(Ok(store::dossier(tx, opened.head, false).await?)),
            Err(denial) => Ok(Err(denial)),
        }
    })?;
    Ok(pb::GetDossierResponse {
        dossier: Some(dossier?),
    })
}

/// `AddEntry`.
pub(crate) async fn add_entry(
    pool: &PgPool,
    caller: &Caller,
    request: pb::AddEntryRequest,
    now: DateTime<Utc>,
) -> Result<pb::AddEntryResponse, ApiError> {
    let number = number_of("personnel_number", &request.personnel_number)?;
    let mut v = Violations::default();
    let hr_process = request.hr_process.trim().to_owned();
    if !rules::HR_PROCESSES.contains(&hr_process.as_str()) {
        v.add(
            "hr_process",
            format!("must be one of {}", rules::HR_PROCESSES.join(", ")),
        );
    }
    let category = request.category.trim().to_owned();
    if !rules::is_art13_category(&category) {
        v.add(
            "category",
            "must be an art 13 category, art13.1 to art13.20",
        );
    }
    let content = match serde_json::from_str::<serde_json::Value>(&request.content_json) {
        Ok(value) if value.is_object() => Some(value),
        _ => {
            v.add("content_json", "must be a JSON object");
            None
        }
    };
    v.finish()?;
    let content = content.unwrap_or_default();
    let source = format!("api:{}", caller.actor());
    let entry = hub_core::with_tx!(pool, tx, {
        match access::open(tx, caller, &number, Action::Write, now).await? {
            Ok(_) => {
                let entry_id: Uuid = sqlx::query_scalar(
                    "INSERT INTO dossier_entries (personnel_number, hr_process, category, source_message_id, content, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING entry_id",
                )
                .bind(&number)
                .bind(&hr_process)
                .bind(&category)
                .bind(&source)
                .bind(&content)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query("UPDATE dossiers SET updated_at = $2 WHERE personnel_number = $1")
                    .bind(&number)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, ApiError>(Ok(entry_id))
            }
            Err(denial) => Ok(Err(denial)),
        }
    })?;
    let entry_id = entry?;
    Ok(pb::AddEntryResponse {
        entry: Some(store::entry_pb(
            entry_id, hr_process, category, source, now, &content, false,
        )),
    })
}

/// The column a report groups by; constants only, never input.
fn dimension_column(dimension: pb::ReportDimension) -> Option<&'static str> {
    match dimension {
        pb::ReportDimension::DefenceBranch => Some("defence_branch"),
        pb::ReportDimension::Unit => Some("unit"),
        pb::ReportDimension::Rank => Some("rank"),
        pb::ReportDimension::SalaryScale => Some("salary_scale::text"),
        pb::ReportDimension::Unspecified => None,
    }
}

/// `GetDossierReport`: counts of active, unrestricted dossiers in the scope
/// of the caller's report grants, with small cells suppressed.
pub(crate) async fn report(
    pool: &PgPool,
    caller: &Caller,
    request: pb::GetDossierReportRequest,
    now: DateTime<Utc>,
) -> Result<pb::GetDossierReportResponse, ApiError> {
    let dimension = pb::ReportDimension::try_from(request.dimension)
        .unwrap_or(pb::ReportDimension::Unspecified);
    let column =
        dimension_column(dimension).ok_or_else(|| ApiError::invalid("dimension", "is required"))?;
    let person = caller.require_person()?;
    let result = hub_core::with_tx!(pool, tx, {
        let grants: Vec<_> = store::active_grants(tx, person, now)
            .await?
            .into_iter()
            .filter(|g| g.nature == Nature::Report)
            .collect();
        if grants.is_empty() {
            let record = AccessRecord {
                actor: person,
                personnel_number: None,
                action: "report",
                allowed: false,
                basis: "none",
                grant_id: None,
                exemption_id: None,
                reason: "no_active_report_grant",
            };
            store::log_access(tx, &record, now).await?;
            return Ok(None);
        }
        let all = grants.iter().any(|g| g.scope == Scope::All);
        let mut branches = Vec::new();
        let mut units = Vec::new();
        for grant in &grants {
            match &grant.scope {
                Scope::DefenceBranch(b) => branches.push(b.to_lowercase()),
                Scope::Unit(u) => units.push(u.to_lowercase()),
                Scope::All | Scope::Dossier(_) => {}
            }
        }
        // Restricted dossiers (MIVD, special units, MD) are never counted:
        // even their number per unit is not for a report grant.
        let sql = format!(
            "SELECT {column} AS grp, count(*) FROM dossiers
             WHERE status = 'active' AND restriction = 'none'
               AND ($1 OR lower(defence_branch) = ANY($2) OR lower(unit) = ANY($3))
             GROUP BY 1 ORDER BY 1"
        );
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(all)
            .bind(&branches)
            .bind(&units)
            .fetch_all(&mut **tx)
            .await?;
        for grant in &grants {
            let record = AccessRecord {
                actor: person,
                personnel_number: None,
                action: "report",
                allowed: true,
                basis: "grant",
                grant_id: Some(grant.id),
                exemption_id: None,
                reason: "",
            };
            store::log_access(tx, &record, now).await?;
        }
        Ok::<_, ApiError>(Some(rows))
    })?;
    let Some(rows) = result else {
        tracing::info!(actor = %person, "dossier report denied");
        return Err(ApiError::denied(
            "reports need an active report grant of the authorisation matrix (art 4.1)",
        ));
    };
    tracing::info!(actor = %person, cells = rows.len(), "dossier report made");
    let cells = rows
        .into_iter()
        .map(|(group, count)| {
            let (count, suppressed) = rules::shown_count(count);
            pb::ReportCell {
                group,
                count,
                suppressed,
            }
        })
        .collect();
    Ok(pb::GetDossierReportResponse {
        dimension: dimension.into(),
        cells,
        suppression_threshold: u32::try_from(rules::SMALL_CELL).unwrap_or(5),
    })
}
