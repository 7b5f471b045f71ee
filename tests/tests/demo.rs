//! `hub demo` on an empty database and an empty vhost prints the field
//! report and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hub_tests::{TestEnv, hub_binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_demo_on_an_empty_database_prints_the_field_report() {
    let env = TestEnv::empty().await;
    let binary = hub_binary();
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/catalog.toml");
    let amqp_url = env.amqp.url.clone();
    let database_url = env.database.url.clone();
    let party_passwords: Vec<(String, String)> = env
        .catalog
        .parties()
        .map(|p| {
            (
                format!(
                    "HUB_PARTY_PASSWORD_{}",
                    hub_core::config::party_env_suffix(&p.id)
                ),
                hub_tests::env::party_password(&p.id),
            )
        })
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .arg("demo")
            .env("HUB_AMQP_URL", amqp_url)
            .env("HUB_DATABASE_URL", database_url)
            .env("HUB_CATALOG", catalog)
            // The broker's party users are shared with the tests running
            // alongside: keep their passwords.
            .envs(party_passwords)
            .env_remove("HUB_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "hub demo failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("wens.hire.v1 event"), "{stdout}");
    assert!(
        stdout.contains("candidate.psychological_test_results.score"),
        "{stdout}"
    );
    assert!(stdout.contains("reached nobody: account (2), health (4), labour_market (2), psych_test (6), selection (1), usage (2)"), "{stdout}");
    assert!(
        stdout.contains("dossier P1000001: 6 entries filed from this event"),
        "{stdout}"
    );
    // The case update, each processor's view side by side.
    assert!(
        stdout.contains("processor.future-smart  processor.robidus"),
        "{stdout}"
    );
    assert!(
        stdout.contains("processor.robidus: received 40 of 47 fields, 7 removed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("processor.future-smart: received 19 of 47 fields, 28 removed"),
        "{stdout}"
    );
    let bsn_row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("employee.bsn"))
        .expect("a BSN row");
    assert_eq!(
        bsn_row.split_whitespace().collect::<Vec<_>>(),
        ["employee.bsn", "bsn", "-", "received"]
    );
    assert!(
        stdout.contains("research.survey: received 11 of 11 fields"),
        "{stdout}"
    );
    env.cleanup().await;
}
