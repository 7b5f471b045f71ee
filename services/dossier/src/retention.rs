//! Retention (art 17, 18): the end date of employment, and the sweep that
//! moves dossiers to the archive twelve months after it, except those kept
//! permanently (salary scale 16 or higher, rank brigadegeneraal or higher).
//! The sweep takes "now" as a parameter, so its rules are testable without
//! waiting; it runs periodically inside the service and on demand
//! (`SweepRetention`, `hubctl dossier sweep`).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use hub_core::shutdown::Shutdown;
use hub_proto::dossier::v1 as pb;
use sqlx::PgPool;

use crate::caller::Caller;
use crate::convert::{date_text, parse_date, personnel_number, timestamp};
use crate::error::{ApiError, Violations};
use crate::rules;
use crate::store;

/// Who archives when the service sweeps by itself.
pub const SWEEPER: &str = "retention-sweeper";

/// One dossier the sweep moved (or would move) or kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepItem {
    /// Personnel number.
    pub personnel_number: String,
    /// When employment ended.
    pub employment_end_date: NaiveDate,
    /// Why it moved or stayed.
    pub reason: String,
}

/// What a sweep did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Moved to the archive.
    pub archived: Vec<SweepItem>,
    /// Due by date, kept permanently (art 18.2.b.ii).
    pub retained_permanently: Vec<SweepItem>,
    /// Employment ended less than twelve months before.
    pub not_yet_due: u32,
}

/// Sweeps the active dossiers with an end date as of `now`. Without
/// `dry_run` it moves the due ones to the archive in one transaction,
/// recording `actor`, the time and the reason on each.
pub async fn sweep(
    pool: &PgPool,
    now: DateTime<Utc>,
    dry_run: bool,
    actor: &str,
) -> Result<SweepReport, sqlx::Error> {
    let today = now.date_naive();
    hub_core::with_tx!(pool, tx, {
        // Locked, so a concurrent sweep waits and then finds them archived.
        let lock = if dry_run { "" } else { "FOR UPDATE" };
        let sql = format!(
            "SELECT personnel_number, employment_end_date, salary_scale, rank FROM dossiers
             WHERE status = 'active' AND employment_end_date IS NOT NULL
             ORDER BY employment_end_date, personnel_number {lock}"
        );
        // `lock` is one of two constants.
        let rows: Vec<(String, NaiveDate, i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut **tx)
            .await?;
        let mut report = SweepReport::default();
        for (number, end, scale, rank) in rows {
            if !rules::is_due(end, today) {
                report.not_yet_due += 1;
                continue;
            }
            let item = |reason: String| SweepItem {
                personnel_number: number.clone(),
                employment_end_date: end,
                reason,
            };
            match rules::permanent_retention(scale, &rank) {
                Some(reason) => report.retained_permanently.push(item(reason)),
                None => report.archived.push(item(format!(
                    "employment ended {end}; twelve months passed on {} (art 17.2)",
                    date_text(rules::archive_due_on(end))
                ))),
            }
        }
        if !dry_run {
            for item in &report.archived {
                sqlx::query(
                    "UPDATE dossiers SET status = 'archived', archived_at = $2, archived_by = $3,
                         archive_reason = $4, updated_at = $2
                     WHERE personnel_number = $1 AND status = 'active'",
                )
                .bind(&item.personnel_number)
                .bind(now)
                .bind(actor)
                .bind(&item.reason)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok::<_, sqlx::Error>(report)
    })
}

/// Sweeps every `interval` until `shutdown`. The first sweep comes after
/// one interval, not at start-up, so a restart loop cannot turn into a
/// sweep loop.
pub async fn run_periodically(pool: PgPool, interval: Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match sweep(&pool, Utc::now(), false, SWEEPER).await {
            Ok(report) => {
                for item in &report.archived {
                    tracing::info!(dossier = %item.personnel_number, "dossier moved to the archive");
                }
                tracing::info!(
                    archived = report.archived.len(),
                    retained_permanently = report.retained_permanently.len(),
                    not_yet_due = report.not_yet_due,
                    "retention sweep done"
                );
            }
            Err(error) => {
                tracing::warn!(error = %error, "retention sweep failed, retrying next interval")
            }
        }
    }
}

fn item_pb(item: SweepItem) -> pb::SweepItem {
    pb::SweepItem {
        personnel_number: item.personnel_number,
        employment_end_date: date_text(Some(item.employment_end_date)),
        reason: item.reason,
    }
}

/// `SweepRetention`.
pub(crate) async fn sweep_rpc(
    pool: &PgPool,
    caller: &Caller,
    request: pb::SweepRetentionRequest,
    now: DateTime<Utc>,
) -> Result<pb::SweepRetentionResponse, ApiError> {
    caller.require_records_manager()?;
    let report = sweep(pool, now, request.dry_run, caller.actor()).await?;
    tracing::info!(
        dry_run = request.dry_run,
        archived = report.archived.len(),
        retained_permanently = report.retained_permanently.len(),
        not_yet_due = report.not_yet_due,
        "retention sweep on demand"
    );
    Ok(pb::SweepRetentionResponse {
        dry_run: request.dry_run,
        swept_at: Some(timestamp(now)),
        archived: report.archived.into_iter().map(item_pb).collect(),
        retained_permanently: report
            .retained_permanently
            .into_iter()
            .map(item_pb)
            .collect(),
        not_yet_due: report.not_yet_due,
    })
}

/// `RecordEmploymentEnd`: sets (or, with an empty date, clears) the end of
/// employment of an active dossier, and says what retention follows.
pub(crate) async fn record_end(
    pool: &PgPool,
    caller: &Caller,
    request: pb::RecordEmploymentEndRequest,
    now: DateTime<Utc>,
) -> Result<pb::RecordEmploymentEndResponse, ApiError> {
    caller.require_records_manager()?;
    let mut v = Violations::default();
    let number = personnel_number(&mut v, "personnel_number", &request.personnel_number);
    let end = if request.end_date.trim().is_empty() {
        None
    } else {
        parse_date(&mut v, "end_date", &request.end_date)
    };
    v.finish()?;
    let head = hub_core::with_tx!(pool, tx, {
        let Some(head) = store::head_for_update(tx, &number).await? else {
            return Err(ApiError::not_found("no dossier with that personnel number"));
        };
        if head.archived_at.is_some() {
            return Err(ApiError::precondition("the dossier is already archived"));
        }
        sqlx::query(
            "UPDATE dossiers SET employment_end_date = $2, updated_at = $3 WHERE personnel_number = $1",
        )
        .bind(&number)
        .bind(end)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok::<_, ApiError>(head)
    })?;
    let permanent = rules::permanent_retention(head.salary_scale, &head.rank);
    let due = match (&permanent, end) {
        (None, Some(end)) => date_text(rules::archive_due_on(end)),
        _ => String::new(),
    };
    tracing::info!(dossier = %number, cleared = end.is_none(), "employment end recorded");
    Ok(pb::RecordEmploymentEndResponse {
        end_date: date_text(end),
        archive_due_on: due,
        permanent_retention: permanent.unwrap_or_default(),
    })
}
