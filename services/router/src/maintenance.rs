//! Housekeeping of the processing log and the inbox: monthly partitions are
//! created ahead, partitions older than two years (Selectielijst 9.3.2) are
//! dropped, and inbox rows older than the replay window are deleted.

use std::time::Duration;

use hub_core::shutdown::Shutdown;
use sqlx::PgPool;

/// How long inbox rows are kept: longer than any message can wait in a queue
/// or among the dead letters before it is replayed.
const INBOX_RETENTION_DAYS: i32 = 90;

/// Runs the housekeeping now and then every hour until shutdown.
pub(crate) async fn run(pool: PgPool, shutdown: Shutdown) {
    loop {
        if let Err(error) = once(&pool).await {
            tracing::warn!(error = %error, "processing log maintenance failed, will try again");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3_600)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn once(pool: &PgPool) -> Result<(), sqlx::Error> {
    let created: i32 = sqlx::query_scalar("SELECT processing_log_ensure_partitions(3)")
        .fetch_one(pool)
        .await?;
    let dropped: Vec<String> =
        sqlx::query_scalar("SELECT processing_log_drop_before(now() - interval '2 years')")
            .fetch_all(pool)
            .await?;
    let inbox = sqlx::query(
        "DELETE FROM router_inbox WHERE processed_at < now() - make_interval(days => $1)",
    )
    .bind(INBOX_RETENTION_DAYS)
    .execute(pool)
    .await?
    .rows_affected();
    if created > 0 || !dropped.is_empty() || inbox > 0 {
        tracing::info!(created, dropped = ?dropped, inbox_rows_deleted = inbox, "processing log maintenance");
    }
    Ok(())
}
