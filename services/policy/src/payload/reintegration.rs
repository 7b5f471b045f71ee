//! Rules for `hub.reintegration.v1.CaseUpdate` and `SurveyResponse`.

use chrono::{DateTime, Utc};
use hub_proto::reintegration::v1::{
    CaseStatus, CaseUpdate, ExperienceBand, Gender, SurveyResponse,
};

use super::checker::{Checker, DateRule, FieldViolation};

/// Checks a case update; an empty result means valid.
#[must_use]
pub fn validate_case_update(update: &CaseUpdate, now: DateTime<Utc>) -> Vec<FieldViolation> {
    let mut c = Checker::new(now);
    c.id("event_id", &update.event_id);
    c.id("case_id", &update.case_id);
    if update.case_version == 0 {
        c.violation("case_version", "is required and starts at 1");
    }
    c.known_enum::<CaseStatus>("status", update.status, false);
    c.occurred_at("occurred_at", &update.occurred_at);

    if let Some(employee) = c.required_message("employee", &update.employee) {
        c.id("employee.employee_id", &employee.employee_id);
        c.bsn("employee.bsn", &employee.bsn);
        c.required("employee.surname", &employee.surname);
        c.max_len("employee.surname", &employee.surname, 200);
        c.max_len("employee.initials", &employee.initials, 50);
        c.date(
            "employee.birth_date",
            &employee.birth_date,
            DateRule::Birth,
            false,
        );
        c.known_enum::<Gender>("employee.gender", employee.gender, true);
        c.email("employee.email", &employee.email);
        c.phone("employee.phone", &employee.phone);
    }
    if let Some(employment) = &update.employment {
        c.range(
            "employment.hours_own_work_per_week",
            employment.hours_own_work_per_week,
            0.0..=60.0,
        );
        c.range(
            "employment.hours_adapted_work_per_week",
            employment.hours_adapted_work_per_week,
            0.0..=60.0,
        );
        for (field, value) in [
            (
                "employment.end_of_appointment",
                &employment.end_of_appointment,
            ),
            (
                "employment.salary_continuation_end",
                &employment.salary_continuation_end,
            ),
            ("employment.dismissal_date", &employment.dismissal_date),
        ] {
            c.date(field, value, DateRule::Any, false);
        }
    }
    if let Some(absence) = &update.absence {
        c.date(
            "absence.sickness_start_date",
            &absence.sickness_start_date,
            DateRule::Past,
            false,
        );
    }
    if let Some(poortwachter) = &update.poortwachter {
        for (i, evaluation) in poortwachter.evaluations.iter().enumerate() {
            c.date(
                &format!("poortwachter.evaluations[{i}].evaluated_on"),
                &evaluation.evaluated_on,
                DateRule::Past,
                false,
            );
        }
    }
    if let Some(benefits) = &update.benefits {
        for (field, value) in [
            ("benefits.zw_start_date", &benefits.zw_start_date),
            (
                "benefits.wia_application_date",
                &benefits.wia_application_date,
            ),
            ("benefits.wga_start_date", &benefits.wga_start_date),
        ] {
            c.date(field, value, DateRule::Any, false);
        }
        c.range(
            "benefits.incapacity_percentage",
            benefits.incapacity_percentage,
            0.0..=100.0,
        );
    }
    c.violations
}

/// Checks a survey response; an empty result means valid.
#[must_use]
pub fn validate_survey_response(
    response: &SurveyResponse,
    now: DateTime<Utc>,
) -> Vec<FieldViolation> {
    let mut c = Checker::new(now);
    c.id("event_id", &response.event_id);
    c.occurred_at("occurred_at", &response.occurred_at);
    c.known_enum::<ExperienceBand>("experience_band", response.experience_band, true);
    for (i, statement) in response.statements.iter().enumerate() {
        if !(0..=5).contains(&statement.score) {
            c.violation(
                &format!("statements[{i}].score"),
                "must be between 1 and 5 (0 when unanswered)",
            );
        }
    }
    c.max_len("recommendation", &response.recommendation, 4_000);
    c.max_len("non_use_reason", &response.non_use_reason, 4_000);
    c.violations
}
