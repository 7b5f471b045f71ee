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
    let this_month = chrono::Utc::now()
        .format("processing_log_y%Ym%m")
        .to_string();
    let before = partitions(pool.clone()).await;
    assert!(before.contains(&this_month), "{before:?}");
    assert!(
        before.len() >= 5,
        "this month, three ahead and the default: {before:?}"
    );

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
    let dropped: Vec<String> =
        sqlx::query_scalar("SELECT processing_log_drop_before(now() - interval '2 years')")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(dropped, ["processing_log_y2020m01"]);
    let left: Vec<String> = sqlx::query_scalar("SELECT egress_message_id FROM processing_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["e-new"]);
    assert_eq!(
        partitions(pool.clone()).await,
        before,
        "current and future partitions stay"
    );

    // Making partitions ahead is idempotent.
    let created: i32 = sqlx::query_scalar("SELECT processing_log_ensure_partitions(3)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(created, 0);
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_copy_is_dead_lettered_with_its_reason_and_purged_keeping_metadata() {
    use hub::compose::Component;
    use hub_policy::samples;
    use hub_tests::{eventually, publish_as};
    use std::time::Duration;

    // Future Smart's copies may wait 2 s; dead letters keep their payload 4 s.
    let catalog = hub_tests::env::CATALOG
        .replacen("dead_letter_retention = \"14d\"", "dead_letter_retention = \"4s\"", 1)
        .replacen(
            "purposes = [\"outflow_to_work\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart Resource Center B.V.\"\nencoding = \"json\"\nretention = \"14d\"",
            "purposes = [\"outflow_to_work\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart Resource Center B.V.\"\nencoding = \"json\"\nretention = \"2s\"",
            1,
        );
    assert_ne!(catalog, hub_tests::env::CATALOG, "the test catalog differs");
    let env = TestEnv::with_catalog(&catalog).await;
    let running = env.start(&[Component::Router, Component::Operator]).await;
    let ingress = publish_as(
        &env,
        "reintegration-tool",
        "reintegration.case_update.v1",
        "outflow_to_work",
        &samples::case_update(91, 1),
    )
    .await;
    let egress = hub_core::envelope::egress_message_id(&ingress, "processor.future-smart");
    let pool = env.pool().await;

    // Nobody consumes: the copy expires and the broker dead-letters it.
    let (reason, origin, kept): (String, String, bool) = eventually("the expired copy among the dead letters", Duration::from_secs(30), || {
        let pool = pool.clone();
        let egress = egress.clone();
        async move {
            sqlx::query_as("SELECT reason, origin_queue, payload IS NOT NULL FROM dead_letters WHERE message_id = $1")
                .bind(&egress)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(
        (reason.as_str(), origin.as_str(), kept),
        ("expired", "processor.future-smart", true)
    );

    // After the dead-letter retention only the metadata is left.
    let (state, size, message_type): (String, i32, String) = eventually("the payload purged", Duration::from_secs(30), || {
        let pool = pool.clone();
        let egress = egress.clone();
        async move {
            sqlx::query_as(
                "SELECT state, size_bytes, message_type FROM dead_letters WHERE message_id = $1 AND payload IS NULL AND purged_at IS NOT NULL",
            )
            .bind(&egress)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    })
    .await;
    assert_eq!(state, "purged");
    assert!(size > 0, "the size of what was purged is kept");
    assert_eq!(message_type, "reintegration.case_update.v1");
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}
