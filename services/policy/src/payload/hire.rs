//! Rules for `hub.wens.v1.HireEvent`.

use chrono::{DateTime, Utc};
use hub_proto::wens::v1::{ContractType, Gender, HireEvent};

use super::checker::{Checker, DateRule, FieldViolation};

/// Checks a hire event; an empty result means valid.
#[must_use]
pub fn validate(event: &HireEvent, now: DateTime<Utc>) -> Vec<FieldViolation> {
    let mut c = Checker::new(now);
    c.id("event_id", &event.event_id);
    c.occurred_at("occurred_at", &event.occurred_at);
    c.id("vacancy_id", &event.vacancy_id);
    c.max_len("vacancy_title", &event.vacancy_title, 200);

    if let Some(candidate) = c.required_message("candidate", &event.candidate) {
        c.id("candidate.candidate_id", &candidate.candidate_id);
        c.bsn("candidate.bsn", &candidate.bsn);
        c.required("candidate.surname", &candidate.surname);
        c.required("candidate.initials", &candidate.initials);
        for (field, value) in [
            ("candidate.initials", &candidate.initials),
            ("candidate.first_names", &candidate.first_names),
            ("candidate.surname", &candidate.surname),
            ("candidate.title", &candidate.title),
            ("candidate.civil_status", &candidate.civil_status),
            ("candidate.birth_place", &candidate.birth_place),
            ("candidate.nationality", &candidate.nationality),
            ("candidate.bank_account", &candidate.bank_account),
        ] {
            c.max_len(field, value, 200);
        }
        c.known_enum::<Gender>("candidate.gender", candidate.gender, true);
        c.date(
            "candidate.birth_date",
            &candidate.birth_date,
            DateRule::Birth,
            true,
        );
        c.email("candidate.email", &candidate.email);
        c.phone("candidate.phone", &candidate.phone);
        for (i, education) in candidate.education.iter().enumerate() {
            c.date(
                &format!("candidate.education[{i}].completed_on"),
                &education.completed_on,
                DateRule::Past,
                false,
            );
        }
        for (i, q) in candidate.qualifications.iter().enumerate() {
            c.date(
                &format!("candidate.qualifications[{i}].obtained_on"),
                &q.obtained_on,
                DateRule::Past,
                false,
            );
        }
        for (i, w) in candidate.work_experience.iter().enumerate() {
            let from = c.date(
                &format!("candidate.work_experience[{i}].from_date"),
                &w.from_date,
                DateRule::Past,
                false,
            );
            let until = c.date(
                &format!("candidate.work_experience[{i}].until_date"),
                &w.until_date,
                DateRule::Any,
                false,
            );
            if let (Some(from), Some(until)) = (from, until)
                && until < from
            {
                c.violation(
                    &format!("candidate.work_experience[{i}].until_date"),
                    "is before from_date",
                );
            }
        }
        if let Some(exam) = &candidate.medical_examination {
            c.date(
                "candidate.medical_examination.examination_date",
                &exam.examination_date,
                DateRule::Past,
                false,
            );
        }
    }

    if let Some(appointment) = c.required_message("appointment", &event.appointment) {
        c.id(
            "appointment.personnel_number",
            &appointment.personnel_number,
        );
        c.required("appointment.defence_branch", &appointment.defence_branch);
        c.date(
            "appointment.start_date",
            &appointment.start_date,
            DateRule::Near(2 * 365),
            true,
        );
        if !(0..=18).contains(&appointment.salary_scale) {
            c.violation(
                "appointment.salary_scale",
                "must be between 1 and 18 (0 when unknown)",
            );
        }
        c.known_enum::<ContractType>("appointment.contract_type", appointment.contract_type, true);
        c.range(
            "appointment.hours_per_week",
            appointment.hours_per_week,
            0.0..=60.0,
        );
    }
    c.violations
}
