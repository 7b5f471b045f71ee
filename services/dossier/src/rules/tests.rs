#![allow(clippy::unwrap_used)]

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn dossier(restriction: Restriction, archived_at: Option<&str>) -> DossierFacts {
    DossierFacts {
        personnel_number: "P1000001".to_owned(),
        defence_branch: "CLAS".to_owned(),
        unit: "13 Lichte Brigade".to_owned(),
        restriction,
        archived_at: archived_at.map(at),
    }
}

fn grant(n: u128, nature: Nature, scope: Scope, approvals: Vec<Approval>) -> ActiveGrant {
    ActiveGrant {
        id: Uuid::from_u128(n),
        nature,
        scope,
        approvals,
    }
}

const NOW: &str = "2026-11-22T12:00:00Z";

#[test]
fn art13_categories_are_1_to_20() {
    for ok in ["art13.1", "art13.10", "art13.20"] {
        assert!(is_art13_category(ok), "{ok}");
    }
    for bad in [
        "art13.0", "art13.21", "art13.01", "art13.+5", "art13.", "art14.1", "13.1",
    ] {
        assert!(!is_art13_category(bad), "{bad}");
    }
}

#[test]
fn the_most_specific_covering_grant_is_used() {
    let grants = [
        grant(1, Nature::Read, Scope::All, vec![]),
        grant(
            2,
            Nature::Read,
            Scope::Unit("13 lichte brigade".into()),
            vec![],
        ),
        grant(3, Nature::Read, Scope::Dossier("P1000002".into()), vec![]),
    ];
    let d = dossier(Restriction::None, None);
    let allowed = decide(&d, Action::Read, &grants, None, at(NOW)).unwrap();
    assert_eq!(allowed.grant_id, Uuid::from_u128(2));
}

#[test]
fn natures_allow_what_they_say() {
    let d = dossier(Restriction::None, None);
    let only = |nature| [grant(1, nature, Scope::All, vec![])];
    assert!(decide(&d, Action::Read, &only(Nature::Audit), None, at(NOW)).is_ok());
    assert_eq!(
        decide(&d, Action::Write, &only(Nature::Read), None, at(NOW)),
        Err(Denial::NoActiveGrant)
    );
    assert_eq!(
        decide(&d, Action::Read, &only(Nature::Report), None, at(NOW)),
        Err(Denial::ReportOnly)
    );
    assert_eq!(
        decide(&d, Action::Read, &[], None, at(NOW)),
        Err(Denial::NoActiveGrant)
    );
    let other_branch = [grant(
        1,
        Nature::Read,
        Scope::DefenceBranch("CZSK".into()),
        vec![],
    )];
    assert_eq!(
        decide(&d, Action::Read, &other_branch, None, at(NOW)),
        Err(Denial::NoActiveGrant)
    );
}

#[test]
fn restricted_dossiers_need_the_matching_approval() {
    let unit_head = |unit: &str| Approval {
        restriction: Restriction::SpecialUnit,
        unit: unit.to_owned(),
    };
    let mivd = Approval {
        restriction: Restriction::Mivd,
        unit: String::new(),
    };
    let m = dossier(Restriction::Mivd, None);
    let plain = [grant(1, Nature::Read, Scope::All, vec![])];
    assert_eq!(
        decide(&m, Action::Read, &plain, None, at(NOW)),
        Err(Denial::ApprovalRequired)
    );
    let wrong_basis = [grant(
        1,
        Nature::Read,
        Scope::All,
        vec![unit_head("13 Lichte Brigade")],
    )];
    assert_eq!(
        decide(&m, Action::Read, &wrong_basis, None, at(NOW)),
        Err(Denial::ApprovalRequired)
    );
    let approved = [grant(1, Nature::Read, Scope::All, vec![mivd.clone()])];
    assert!(decide(&m, Action::Read, &approved, None, at(NOW)).is_ok());

    let s = dossier(Restriction::SpecialUnit, None);
    let other_unit = [grant(1, Nature::Read, Scope::All, vec![unit_head("KCT")])];
    assert_eq!(
        decide(&s, Action::Read, &other_unit, None, at(NOW)),
        Err(Denial::ApprovalRequired)
    );
    let own_unit = [grant(
        1,
        Nature::Read,
        Scope::All,
        vec![unit_head("13 Lichte Brigade")],
    )];
    assert!(decide(&s, Action::Read, &own_unit, None, at(NOW)).is_ok());

    // The records manager never reads restricted dossiers directly.
    assert_eq!(
        decide_records_manager(&m, Action::Read),
        Err(Denial::RestrictedForRecordsManager)
    );
    assert_eq!(
        decide_records_manager(&dossier(Restriction::None, None), Action::Read),
        Ok(())
    );
}

#[test]
fn archived_dossiers_open_only_with_an_exemption_and_never_after_five_years() {
    let grants = [grant(1, Nature::Read, Scope::All, vec![])];
    let exemption = Some(Uuid::from_u128(9));
    let recent = dossier(Restriction::None, Some("2025-01-10T00:00:00Z"));
    assert_eq!(
        decide(&recent, Action::Read, &grants, None, at(NOW)),
        Err(Denial::Archived)
    );
    assert_eq!(
        decide(&recent, Action::Read, &grants, exemption, at(NOW)),
        Ok(Allowed {
            grant_id: Uuid::from_u128(1),
            exemption_id: exemption
        })
    );
    assert_eq!(
        decide(&recent, Action::Write, &grants_write(), exemption, at(NOW)),
        Err(Denial::ArchivedReadOnly)
    );
    // Five years to the day is too old; a day less is not.
    let old = dossier(Restriction::None, Some("2021-11-22T12:00:00Z"));
    assert_eq!(
        decide(&old, Action::Read, &grants, exemption, at(NOW)),
        Err(Denial::ArchivedOverFiveYears)
    );
    assert!(exemption_possible(at("2021-11-23T12:00:00Z"), at(NOW)));
    assert!(!exemption_possible(at("2021-11-22T12:00:00Z"), at(NOW)));
    assert_eq!(
        decide_records_manager(&recent, Action::Read),
        Err(Denial::Archived)
    );
}

fn grants_write() -> [ActiveGrant; 1] {
    [grant(1, Nature::Write, Scope::All, vec![])]
}

#[test]
fn small_cells_are_suppressed() {
    assert_eq!(shown_count(0), ("<5".to_owned(), true));
    assert_eq!(shown_count(4), ("<5".to_owned(), true));
    assert_eq!(shown_count(5), ("5".to_owned(), false));
    assert_eq!(shown_count(120), ("120".to_owned(), false));
}

#[test]
fn permanent_retention_for_scale_16_and_general_ranks() {
    assert!(permanent_retention(16, "kolonel").is_some());
    assert!(permanent_retention(18, "").is_some());
    assert!(permanent_retention(15, "kolonel").is_none());
    for rank in [
        "brigadegeneraal",
        "Generaal-majoor",
        "luitenant-generaal",
        "generaal",
        "commandeur",
        "schout-bij-nacht",
        "vice-admiraal",
        "luitenant-admiraal",
        "admiraal",
        "Brigadegeneraal der mariniers",
    ] {
        assert!(permanent_retention(10, rank).is_some(), "{rank}");
    }
    for rank in [
        "kolonel",
        "kapitein ter zee",
        "luitenant ter zee der 1e klasse",
        "luitenant",
        "soldaat",
        "adjudant",
        "",
    ] {
        assert!(permanent_retention(14, rank).is_none(), "{rank}");
    }
}

#[test]
fn the_archive_is_due_twelve_months_after_employment_ended() {
    let today = date("2026-11-22");
    assert!(is_due(date("2025-10-22"), today), "13 months ago");
    assert!(
        is_due(date("2025-11-22"), today),
        "12 months ago to the day"
    );
    assert!(
        !is_due(date("2025-11-23"), today),
        "a day less than 12 months"
    );
    assert!(!is_due(date("2025-12-22"), today), "11 months ago");
    assert_eq!(archive_due_on(date("2024-02-29")), Some(date("2025-02-28")));
}

#[test]
fn mivd_staff_are_restricted_from_onboarding() {
    assert_eq!(Restriction::from_onboarding(" MIVD "), Restriction::Mivd);
    assert_eq!(Restriction::from_onboarding("CLAS"), Restriction::None);
}
