//! The `hub` binary's command line: help, and clear one-line errors.

use std::process::Command;

fn hub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hub"))
}

#[test]
fn help_lists_every_command() {
    let output = hub()
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    for command in [
        "all",
        "gateway",
        "router",
        "dossier",
        "migrate",
        "provision",
        "demo",
    ] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn running_without_a_pseudonym_key_is_a_clear_error() {
    let output = hub()
        .arg("all")
        .env_remove("HUB_PSEUDONYM_KEY")
        .env_remove("HUB_PSEUDONYM_KEY_FILE")
        .env(
            "HUB_CATALOG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy/catalog.toml"),
        )
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HUB_PSEUDONYM_KEY is required"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_named_with_the_fix() {
    let output = hub()
        .arg("migrate")
        .env("HUB_DATABASE_URL", "postgres://postgres@127.0.0.1:1/hub")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/hub"),
        "{stderr}"
    );
    assert!(stderr.contains("HUB_DATABASE_URL"), "{stderr}");
}
