//! Synthetic people and messages for the demo, the tests and the benchmark.
//!
//! Everything here is made up: names are obviously fictitious, e-mail
//! addresses use `example.nl`, and BSNs come from the `999…` range and pass
//! the eleven test, so they are valid in form but belong to nobody.

use hub_proto::processor::v1 as processor;
use hub_proto::reintegration::v1 as reintegration;
use hub_proto::wens::v1 as wens;
use prost_types::Timestamp;

const SURNAMES: [&str; 6] = [
    "Proefmans",
    "Testkamp",
    "Voorbeeldt",
    "Fictief",
    "Namaakker",
    "Denkbeeld",
];
const INITIALS: [&str; 4] = ["A.B.", "C.", "D.E.", "F.G.H."];

/// A BSN that passes the eleven test, distinct for every `seed` below 500 000.
///
/// The eight-digit body is `99` and `2·seed` (or `2·seed + 1`); the check
/// digit follows from the eleven test. When `2·seed` would need a check digit
/// of 10, `2·seed + 1` cannot (its weighted sum differs by 2), so no two seeds
/// share a number.
#[must_use]
pub fn bsn(seed: u32) -> String {
    let base = (seed % 500_000) * 2;
    for n in [base, base + 1] {
        let body = format!("99{n:06}");
        let sum: u32 = body
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (9 - i as u32))
            .sum();
        // 9·d1 + … + 2·d8 − d9 ≡ 0 (mod 11)  ⇔  d9 ≡ sum (mod 11)
        let check = sum % 11;
        if check < 10 {
            return format!("{body}{check}");
        }
    }
    unreachable!("one of two neighbouring bodies always has a check digit below 10")
}

/// The surname used for seed `seed` (for tests that look for it in logs).
#[must_use]
pub fn surname(seed: u32) -> &'static str {
    SURNAMES[seed as usize % SURNAMES.len()]
}

/// The e-mail address used for seed `seed`.
#[must_use]
pub fn email(seed: u32) -> String {
    format!("persoon{seed}@example.nl")
}

/// The phone number used for seed `seed`.
#[must_use]
pub fn phone(seed: u32) -> String {
    format!("+31 6 9{:07}", seed % 10_000_000)
}

fn now() -> Timestamp {
    let now = chrono::Utc::now();
    Timestamp {
        seconds: now.timestamp(),
        nanos: 0,
    }
}

fn date_years_ago(years: i32) -> String {
    let today = chrono::Utc::now().date_naive();
    let year = chrono::Datelike::year(&today) - years;
    format!("{year}-03-14")
}

/// A complete hire event, including the data that must never reach the
/// dossier: psychological tests, assessments, a medical examination,
/// selection notes, labour market position, account and device data.
#[must_use]
pub fn hire_event(seed: u32) -> wens::HireEvent {
    wens::HireEvent {
        event_id: format!("wens-hire-{seed}"),
        occurred_at: Some(now()),
        vacancy_id: format!("VAC-{}", 1000 + seed % 50),
        vacancy_title: "Monteur voertuigtechniek".to_owned(),
        candidate: Some(wens::Candidate {
            candidate_id: format!("CAND-{seed}"),
            bsn: bsn(seed),
            initials: INITIALS[seed as usize % INITIALS.len()].to_owned(),
            first_names: "Testvoornaam".to_owned(),
            surname: surname(seed).to_owned(),
            title: String::new(),
            gender: wens::Gender::X as i32,
            birth_date: date_years_ago(22),
            civil_status: "ongehuwd".to_owned(),
            birth_place: "Fictiefdorp".to_owned(),
            nationality: "NL".to_owned(),
            address: Some(wens::Address {
                street: "Voorbeeldstraat".to_owned(),
                house_number: format!("{}", 1 + seed % 200),
                postal_code: "1234 AB".to_owned(),
                city: "Fictiefdorp".to_owned(),
                country: "NL".to_owned(),
            }),
            phone: phone(seed),
            email: email(seed),
            bank_account: "NL00TEST0123456789".to_owned(),
            education: vec![wens::Education {
                institution: "ROC Voorbeeld".to_owned(),
                programme: "Motorvoertuigentechniek".to_owned(),
                level: "MBO 3".to_owned(),
                completed_on: date_years_ago(2),
            }],
            qualifications: vec![wens::Qualification {
                name: "Rijbewijs C".to_owned(),
                issuer: "CBR".to_owned(),
                obtained_on: date_years_ago(1),
            }],
            work_experience: vec![wens::WorkExperience {
                employer: "Garage Denkbeeld".to_owned(),
                role: "Leerling-monteur".to_owned(),
                from_date: date_years_ago(3),
                until_date: date_years_ago(1),
            }],
            references: vec![wens::Reference {
                name: "R. Referent".to_owned(),
                relation: "Oud-werkgever".to_owned(),
                phone: "+31 30 0000000".to_owned(),
            }],
            cv_document: Some(wens::Document {
                file_name: "cv.pdf".to_owned(),
                media_type: "application/pdf".to_owned(),
                content: b"%PDF-synthetic".to_vec(),
            }),
            motivation: "Ik wil graag bij Defensie werken (synthetisch).".to_owned(),
            psychological_test_results: vec![wens::PsychologicalTestResult {
                test_name: "Capaciteitentest".to_owned(),
                score: "7".to_owned(),
                interpretation: "ruim voldoende (synthetisch)".to_owned(),
            }],
            assessment_results: vec![wens::AssessmentResult {
                assessment_name: "Groepsopdracht".to_owned(),
                outcome: "geschikt".to_owned(),
                assessor_notes: "synthetische notitie".to_owned(),
            }],
            medical_examination: Some(wens::MedicalExamination {
                examination_date: date_years_ago(0).replace("-03-14", "-01-02"),
                outcome: "goedgekeurd".to_owned(),
                findings: "synthetische bevinding".to_owned(),
                examiner: "Keuringsarts Fictief".to_owned(),
            }),
            selection_notes: "Synthetische selectienotitie".to_owned(),
            labour_market_position: Some(wens::LabourMarketPosition {
                status: "werkzoekend".to_owned(),
                sector: "techniek".to_owned(),
            }),
            account: Some(wens::Account {
                username: format!("kandidaat{seed}"),
                last_login_at: Some(now()),
            }),
            device: Some(wens::Device {
                user_agent: "SyntheticBrowser/1.0".to_owned(),
                ip_address: "192.0.2.10".to_owned(),
            }),
        }),
        appointment: Some(wens::Appointment {
            personnel_number: format!("P{:07}", 1_000_000 + seed),
            defence_branch: "CLAS".to_owned(),
            unit: "13 Lichte Brigade".to_owned(),
            function_title: "Monteur".to_owned(),
            function_code: "F-4711".to_owned(),
            rank: "soldaat".to_owned(),
            salary_scale: 4,
            start_date: date_years_ago(0).replace("-03-14", "-12-01"),
            contract_type: wens::ContractType::FixedTerm as i32,
            hours_per_week: 36.0,
        }),
    }
}

/// A complete case update, including medical data that must never leave.
#[must_use]
pub fn case_update(case_seed: u32, version: u64) -> reintegration::CaseUpdate {
    reintegration::CaseUpdate {
        event_id: format!("case-{case_seed}-v{version}"),
        case_id: format!("CASE-{case_seed}"),
        case_version: version,
        status: reintegration::CaseStatus::Changed as i32,
        occurred_at: Some(now()),
        employee: Some(reintegration::Employee {
            employee_id: format!("P{:07}", 2_000_000 + case_seed),
            bsn: bsn(case_seed + 250_000),
            initials: INITIALS[case_seed as usize % INITIALS.len()].to_owned(),
            surname: surname(case_seed).to_owned(),
            birth_date: date_years_ago(35),
            gender: reintegration::Gender::Female as i32,
            address: Some(reintegration::Address {
                street: "Proefweg".to_owned(),
                house_number: format!("{}", 1 + case_seed % 90),
                postal_code: "9999 ZZ".to_owned(),
                city: "Testerveen".to_owned(),
                country: "NL".to_owned(),
            }),
            email: email(case_seed + 250_000),
            phone: phone(case_seed + 250_000),
        }),
        availability: Some(reintegration::Availability {
            reachable_9_10: true,
            reachable_10_17: false,
            note: "liever 's ochtends".to_owned(),
        }),
        employment: Some(reintegration::Employment {
            defence_branch: "CZSK".to_owned(),
            unit: "Marinebedrijf".to_owned(),
            duties: "Onderhoud scheepssystemen".to_owned(),
            function_description: "Technicus werktuigbouw".to_owned(),
            hours_own_work_per_week: 12.0,
            hours_adapted_work_per_week: 8.0,
            end_of_appointment: date_years_ago(-3),
            payroll_tax_number: "L-000-SYNTH".to_owned(),
            salary_continuation_end: date_years_ago(-1),
            dismissal_date: String::new(),
            dismissal_reason: String::new(),
            work_relation_quality: "gespannen (synthetisch)".to_owned(),
            labour_conflict: true,
            participant_signature: "handtekening-synthetisch".to_owned(),
        }),
        absence: Some(reintegration::Absence {
            sickness_start_date: date_years_ago(1),
            expected_duration: "6 maanden".to_owned(),
        }),
        poortwachter: Some(reintegration::Poortwachter {
            problem_analysis: "Probleemanalyse (synthetisch)".to_owned(),
            plan_of_action: "Plan van aanpak (synthetisch)".to_owned(),
            evaluations: vec![reintegration::Evaluation {
                evaluated_on: date_years_ago(1).replace("-03-14", "-09-01"),
                summary: "Eerstejaarsevaluatie (synthetisch)".to_owned(),
            }],
        }),
        benefits: Some(reintegration::Benefits {
            zw_start_date: String::new(),
            zw_status: String::new(),
            wia_application_date: date_years_ago(0).replace("-03-14", "-01-10"),
            wia_decision: "in behandeling".to_owned(),
            wga_start_date: String::new(),
            wga_status: String::new(),
            incapacity_percentage: 45.0,
        }),
        capability: Some(reintegration::Capability {
            functional_abilities: "Kan 4 uur per dag zittend werk doen".to_owned(),
            function_suitability_advice: "Geschikt voor administratief werk".to_owned(),
            labour_expert_report: "Arbeidsdeskundig rapport (synthetisch)".to_owned(),
        }),
        medical: Some(reintegration::Medical {
            diagnosis: "SYNTHETISCHE-DIAGNOSE".to_owned(),
            mgo: "SYNTHETISCH-MGO".to_owned(),
            notes: "SYNTHETISCHE-MEDISCHE-NOTITIE".to_owned(),
        }),
    }
}

/// A survey response.
#[must_use]
pub fn survey_response(seed: u32) -> reintegration::SurveyResponse {
    reintegration::SurveyResponse {
        event_id: format!("survey-{seed}"),
        occurred_at: Some(now()),
        respondent_branch: "CLAS".to_owned(),
        respondent_unit: "43 Gemechaniseerde Brigade".to_owned(),
        experience_band: reintegration::ExperienceBand::ExperienceBand2To5Years as i32,
        long_absence_cases_band: "3-5".to_owned(),
        tool_usage: "wekelijks".to_owned(),
        statements: vec![reintegration::Statement {
            statement: "De tool helpt mij bij het plan van aanpak".to_owned(),
            score: 4,
        }],
        ranked_elements: vec!["tijdlijn".to_owned(), "taken".to_owned()],
        recommendation: "Meer overzicht per casus".to_owned(),
        non_use_reason: String::new(),
    }
}

/// A processor report on a case.
#[must_use]
pub fn processor_report(seed: u32, case_id: &str) -> processor::ProcessorReport {
    processor::ProcessorReport {
        event_id: format!("report-{seed}"),
        case_id: case_id.to_owned(),
        report_type: processor::ReportType::PlanAgreed as i32,
        occurred_at: Some(now()),
        placement: Some(processor::Placement {
            sector: "logistiek".to_owned(),
            start_date: date_years_ago(0).replace("-03-14", "-11-01"),
            hours_per_week: 24.0,
        }),
        note: "Trajectplan afgestemd".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::bsn;

    #[test]
    fn synthetic_bsns_pass_the_eleven_test_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for seed in (0..20_000).chain(250_000..252_000) {
            let value = super::bsn(seed);
            assert!(bsn::is_valid(&value), "{value}");
            assert!(value.starts_with("99"));
            assert!(seen.insert(value), "seed {seed} repeats a number");
        }
    }
}
