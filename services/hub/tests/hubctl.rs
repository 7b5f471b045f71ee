//! `hubctl catalog check|diff|render`, and `hub` refusing to start on a
//! broken catalog.

use std::path::PathBuf;
use std::process::{Command, Output};

const SHIPPED: &str = include_str!("../../../policy/catalog.toml");

fn catalog_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hubctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn hubctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hubctl"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The three kinds of broken catalog of the acceptance criteria, each with
/// the entry its error must name.
fn broken() -> Vec<(&'static str, String, [&'static str; 2])> {
    vec![
        (
            "unclassified.toml",
            SHIPPED.replacen("\"candidate.selection_notes\" = \"selection\"\n", "", 1),
            ["message_types.\"wens.hire.v1\"", "`candidate.selection_notes`"],
        ),
        (
            "health.toml",
            SHIPPED.replacen(
                "    \"capability.function_suitability_advice\",\n]",
                "    \"capability.function_suitability_advice\",\n    \"medical.diagnosis\",\n]",
                1,
            ),
            ["routes[2] (reintegration.case_update.v1 -> future-smart)", "`medical.diagnosis`"],
        ),
        (
            "bsn.toml",
            SHIPPED.replacen("    \"employee.initials\",\n    \"employee.surname\",\n    \"employee.email\",", "    \"employee.bsn\",\n    \"employee.initials\",\n    \"employee.surname\",\n    \"employee.email\",", 1),
            ["routes[2] (reintegration.case_update.v1 -> future-smart)", "statutory_basis"],
        ),
    ]
}

#[test]
fn check_accepts_the_shipped_catalog() {
    let path = catalog_file("shipped.toml", SHIPPED);
    let output = hubctl(&["catalog", "check", path.to_str().unwrap_or_default()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("valid (4 message types, 5 routes"));
}

#[test]
fn check_and_startup_fail_on_broken_catalogs_naming_the_entry() {
    for (name, catalog, expected) in broken() {
        let path = catalog_file(name, &catalog);
        let output = hubctl(&["catalog", "check", path.to_str().unwrap_or_default()]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", text(&output));
        for needle in expected {
            assert!(
                text(&output).contains(needle),
                "{name}: `{needle}` not in {}",
                text(&output)
            );
        }
        let startup = Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("all")
            .env("HUB_CATALOG", &path)
            .env("HUB_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !startup.status.success(),
            "{name}: hub started on a broken catalog"
        );
        for needle in expected {
            assert!(
                text(&startup).contains(needle),
                "{name}: startup error lacks `{needle}`: {}",
                text(&startup)
            );
        }
    }
}

#[test]
fn diff_exits_non_zero_only_on_widening() {
    let old = catalog_file("old.toml", SHIPPED);
    let wider = catalog_file(
        "wider.toml",
        &SHIPPED.replacen(
            "    \"capability.function_suitability_advice\",\n]",
            "    \"capability.function_suitability_advice\",\n    \"capability.labour_expert_report\",\n]",
            1,
        ),
    );
    let narrower = catalog_file(
        "narrower.toml",
        &SHIPPED.replacen("    \"employment.payroll_tax_number\",\n", "", 1),
    );
    let (old, wider, narrower) = (
        old.to_str().unwrap_or_default(),
        wider.to_str().unwrap_or_default(),
        narrower.to_str().unwrap_or_default(),
    );

    let output = hubctl(&["catalog", "diff", old, wider]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("+ capability.labour_expert_report [capability] starts flowing")
    );

    let output = hubctl(&["catalog", "diff", old, narrower]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("- employment.payroll_tax_number [financial] stops flowing"));

    let output = hubctl(&["catalog", "diff", old, old]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output).contains("no change"));

    let broken = catalog_file("broken-for-diff.toml", "not = [toml");
    let output = hubctl(&["catalog", "diff", old, broken.to_str().unwrap_or_default()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn render_prints_the_committed_register() {
    let path = catalog_file("render.toml", SHIPPED);
    let output = hubctl(&[
        "catalog",
        "render",
        "--catalog",
        path.to_str().unwrap_or_default(),
    ]);
    assert!(output.status.success());
    let committed = include_str!("../../../policy/register.md");
    assert_eq!(String::from_utf8_lossy(&output.stdout), committed);
    let output = hubctl(&[
        "catalog",
        "render",
        "--catalog",
        path.to_str().unwrap_or_default(),
        "--format",
        "html",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        include_str!("../../../policy/register.html")
    );
}
