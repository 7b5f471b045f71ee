//! Retention of the processing log: monthly partitions are made ahead, and
//! records older than two years go by dropping whole partitions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_older_than_two_years_are_dropped_and_current_ones_kept() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let partitions = |pool: sqlx::PgPool| async move {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'processing_log'::regclass ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        names
    };
    let this_month = chrono::Utc::now().format("processing_log_y%Ym%m").to_string();
    let before = partitions(pool.clone()).await;
    assert!(before.contains(&this_month), "{before:?}");
    assert!(before.len() >= 5, "this month, three ahead and the default: {before:?}");

    sqlx::raw_sql(
        "CREATE TABLE processing_log_y2020m01 PARTITION OF processing_log FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
         INSERT INTO processing_log (logged_at, trace_id, span_id, ingress_message_id, egress_message_id, message_type,
             activity, purposes, legal_basis, source, recipient, queue, categories, fields_delivered, fields_removed,
             catalog_version)
         VALUES ('2020-01-15', 't', 's', 'i', 'e-old', 'x', 'D2599', '{}', 'b', 'src', 'r', 'q', '{}', 1, 0, 'v'),
                (now(), 't', 's', 'i', 'e-new', 'x', 'D2599', '{}', 'b', 'src', 'r', 'q', '{}', 1, 0, 'v');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dropped: Vec<String> = sqlx::query_scalar("SELECT processing_log_drop_before(now() - interval '2 years')")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(dropped, ["processing_log_y2020m01"]);
    let left: Vec<String> = sqlx::query_scalar("SELECT egress_message_id FROM processing_log").fetch_all(&pool).await.unwrap();
    assert_eq!(left, ["e-new"]);
    assert_eq!(partitions(pool.clone()).await, before, "current and future partitions stay");

    // Making partitions ahead is idempotent.
    let created: i32 = sqlx::query_scalar("SELECT processing_log_ensure_partitions(3)").fetch_one(&pool).await.unwrap();
    assert_eq!(created, 0);
    pool.close().await;
    env.cleanup().await;
}
