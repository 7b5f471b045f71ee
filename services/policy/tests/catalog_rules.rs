//! The catalog rules: the shipped catalog loads, and each kind of broken
//! catalog fails with a message naming the offending entry.

use hub_policy::{Catalog, CatalogError};

const SHIPPED: &str = include_str!("../../../policy/catalog.toml");

fn problems_of(text: &str) -> Vec<String> {
    match Catalog::from_toml(text) {
        Ok(_) => panic!("the broken catalog was accepted"),
        Err(CatalogError::Invalid(problems)) => problems,
        Err(other) => panic!("expected rule violations, got: {other}"),
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture text not found: {from}");
    text.replacen(from, to, 1)
}

#[test]
fn the_shipped_catalog_is_valid() {
    let catalog = Catalog::from_toml(SHIPPED).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(catalog.version().len(), 64);
    assert_eq!(
        catalog.recipient_queues(),
        [
            "dossier.onboarding",
            "processor.future-smart",
            "processor.robidus",
            "reintegration.reports",
            "research.survey"
        ]
    );
}

#[test]
fn a_schema_field_without_a_category_names_the_field() {
    let broken = replace_once(
        SHIPPED,
        "\"candidate.selection_notes\" = \"selection\"\n",
        "",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(|p| p.contains("wens.hire.v1")
            && p.contains("`candidate.selection_notes`")
            && p.contains("no data category")),
        "{problems:?}"
    );
}

#[test]
fn a_route_carrying_a_health_field_is_refused() {
    let broken = replace_once(
        SHIPPED,
        "    \"capability.function_suitability_advice\",\n]",
        "    \"capability.function_suitability_advice\",\n    \"medical.diagnosis\",\n]",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(
            |p| p.contains("reintegration.case_update.v1 -> future-smart")
                && p.contains("`medical.diagnosis`")
                && p.contains("health")
        ),
        "{problems:?}"
    );
}

#[test]
fn a_bsn_on_a_route_without_statutory_basis_is_refused() {
    let broken = replace_once(
        SHIPPED,
        "    \"employee.initials\",\n    \"employee.surname\",\n    \"employee.email\",",
        "    \"employee.bsn\",\n    \"employee.initials\",\n    \"employee.surname\",\n    \"employee.email\",",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(|p| p.contains("-> future-smart")
            && p.contains("`employee.bsn`")
            && p.contains("statutory_basis")),
        "{problems:?}"
    );
}

#[test]
fn psychological_tests_never_reach_the_dossier() {
    let broken = replace_once(
        SHIPPED,
        "    \"candidate.motivation\",\n",
        "    \"candidate.motivation\",\n    \"candidate.psychological_test_results\",\n",
    );
    let problems = problems_of(&broken);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("wens.hire.v1 -> dossier") && p.contains("psych_test")),
        "{problems:?}"
    );
}

#[test]
fn unknown_references_and_disallowed_purposes_are_named() {
    let broken = replace_once(
        SHIPPED,
        "purposes = [\"tool_usage_research\"]\nlegal_basis",
        "purposes = [\"outflow_to_work\"]\nlegal_basis",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(
            |p| p.contains("reintegration.survey_response.v1 -> research")
                && p.contains("`outflow_to_work` is not allowed")
        ),
        "{problems:?}"
    );

    let broken = replace_once(SHIPPED, "producers = [\"wens\"]", "producers = [\"wenz\"]");
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(|p| p.contains("producer `wenz`")),
        "{problems:?}"
    );

    let broken = replace_once(
        SHIPPED,
        "recipient = \"research\"",
        "recipient = \"nobody\"",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(|p| p.contains("recipient `nobody`")),
        "{problems:?}"
    );

    let broken = replace_once(
        SHIPPED,
        "    \"vacancy_title\",\n    \"candidate.candidate_id\",",
        "    \"vacancy_title\",\n    \"candidate.shoe_size\",\n    \"candidate.candidate_id\",",
    );
    let problems = problems_of(&broken);
    assert!(
        problems.iter().any(|p| p.contains("no field `shoe_size`")),
        "{problems:?}"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let broken = replace_once(
        SHIPPED,
        "case_owner_check = true",
        "case_owner_check = true\ncase_owner_chek = true",
    );
    match Catalog::from_toml(&broken) {
        Err(CatalogError::Syntax(text)) => assert!(text.contains("case_owner_chek"), "{text}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn two_routes_for_one_recipient_are_refused() {
    let extra = "\n[[routes]]\nmessage_type = \"processor.report.v1\"\nrecipient = \"reintegration-tool\"\nqueue = \"reintegration.reports\"\npurposes = [\"outflow_to_work\"]\nlegal_basis = \"x\"\nencoding = \"json\"\nretention = \"1d\"\nfields = [\"event_id\"]\n";
    let problems = problems_of(&format!("{SHIPPED}{extra}"));
    assert!(
        problems.iter().any(|p| p.contains("a second route")),
        "{problems:?}"
    );
}
