//! The generated register is a committed snapshot, and `catalog diff`
//! recognises widening.

use hub_policy::Catalog;
use hub_policy::diff::diff;
use hub_policy::register;

const SHIPPED: &str = include_str!("../../../policy/catalog.toml");

fn catalog(text: &str) -> Catalog {
    Catalog::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Compares `actual` with the committed file; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(file: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../policy")
        .join(file);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is out of date with the catalog; regenerate it with `UPDATE_SNAPSHOTS=1 cargo nextest run -p hub-policy` \
         (or `hubctl catalog render`) and review the change",
        path.display()
    );
}

#[test]
fn the_rendered_register_matches_the_committed_snapshot() {
    let c = catalog(SHIPPED);
    let markdown = register::markdown(&c);
    assert!(markdown.contains("## D2599: Re-integratie"));
    assert!(markdown.contains("Robidus Solutions B.V. (processor)"));
    assert!(
        markdown.contains("none: no BSN"),
        "Future Smart's route has no statutory basis"
    );
    snapshot("register.md", &markdown);
    snapshot("register.html", &register::html_document(&c));
}

#[test]
fn html_is_escaped() {
    let text = SHIPPED.replace(
        "name = \"Re-integratie\"",
        "name = \"Re-integratie <script>\"",
    );
    let html = register::html_fragment(&catalog(&text));
    assert!(html.contains("Re-integratie &lt;script&gt;"));
    assert!(!html.contains("<script>"));
}

#[test]
fn the_same_catalog_has_no_diff() {
    let d = diff(&catalog(SHIPPED), &catalog(SHIPPED));
    assert!(d.is_empty());
    assert!(!d.widens());
}

#[test]
fn a_field_starting_to_flow_is_widening() {
    let wider = SHIPPED.replacen(
        "    \"capability.function_suitability_advice\",\n]",
        "    \"capability.function_suitability_advice\",\n    \"capability.labour_expert_report\",\n]",
        1,
    );
    let d = diff(&catalog(SHIPPED), &catalog(&wider));
    assert!(d.widens());
    let change = d
        .routes
        .iter()
        .find(|c| c.recipient == "future-smart")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(
        change.fields_added,
        [(
            "capability.labour_expert_report".to_owned(),
            "capability".to_owned()
        )]
    );
    assert!(
        d.to_string()
            .contains("+ capability.labour_expert_report [capability] starts flowing")
    );
    assert!(d.to_string().contains("WIDENING"));
}

#[test]
fn a_field_stopping_is_narrowing_and_names_the_category_that_stops() {
    let narrower = SHIPPED.replacen("    \"employment.payroll_tax_number\",\n", "", 1);
    let d = diff(&catalog(SHIPPED), &catalog(&narrower));
    assert!(!d.widens(), "{d}");
    let change = d
        .routes
        .iter()
        .find(|c| c.recipient == "robidus")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(
        change.fields_removed,
        [(
            "employment.payroll_tax_number".to_owned(),
            "financial".to_owned()
        )]
    );
    assert_eq!(change.categories_removed, ["financial"]);
}

#[test]
fn a_route_firing_for_more_purposes_or_a_new_producer_is_widening() {
    let more_purposes = SHIPPED.replacen(
        "purposes = [\"outflow_to_work\"]\nlegal_basis = \"Gerechtvaardigd",
        "purposes = [\"outflow_to_work\", \"wellbeing\"]\nlegal_basis = \"Gerechtvaardigd",
        1,
    );
    let d = diff(&catalog(SHIPPED), &catalog(&more_purposes));
    assert!(d.widens(), "{d}");
    let more_producers = SHIPPED.replacen(
        "producers = [\"wens\"]",
        "producers = [\"wens\", \"reintegration-tool\"]",
        1,
    );
    let d = diff(&catalog(SHIPPED), &catalog(&more_producers));
    assert!(d.widens(), "{d}");
    assert_eq!(
        d.producers_added,
        [("wens.hire.v1".to_owned(), "reintegration-tool".to_owned())]
    );
}
