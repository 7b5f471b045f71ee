//! Rules for `hub.processor.v1.ProcessorReport`.

use chrono::{DateTime, Utc};
use hub_proto::processor::v1::{ProcessorReport, ReportType};

use super::checker::{Checker, DateRule, FieldViolation};

/// Checks a processor report; an empty result means valid.
#[must_use]
pub fn validate(report: &ProcessorReport, now: DateTime<Utc>) -> Vec<FieldViolation> {
    let mut c = Checker::new(now);
    c.id("event_id", &report.event_id);
    c.id("case_id", &report.case_id);
    c.known_enum::<ReportType>("report_type", report.report_type, false);
    c.occurred_at("occurred_at", &report.occurred_at);
    if let Some(placement) = &report.placement {
        c.date(
            "placement.start_date",
            &placement.start_date,
            DateRule::Near(2 * 365),
            false,
        );
        c.range(
            "placement.hours_per_week",
            placement.hours_per_week,
            0.0..=60.0,
        );
    }
    c.max_len("note", &report.note, 4_000);
    c.violations
}
