//! Field checks shared by the payload validators.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::bsn;

/// One broken rule: the field (canonical path) and what is wrong, never the
/// value itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Canonical field path (`candidate.bsn`).
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// How plausible a date must be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DateRule {
    /// Any valid calendar date between 1900 and 2200.
    Any,
    /// Not after today.
    Past,
    /// A birth date: from 1900, and the person at least 15 years old.
    Birth,
    /// Within this many days of now, either way.
    Near(i64),
}

/// Collects violations while a validator walks a message.
pub(crate) struct Checker {
    pub now: DateTime<Utc>,
    pub violations: Vec<FieldViolation>,
}

impl Checker {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            violations: Vec::new(),
        }
    }

    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations.push(FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        });
    }

    /// A string that must be present.
    pub fn required(&mut self, field: &str, value: &str) -> bool {
        if value.trim().is_empty() {
            self.violation(field, "is required");
            false
        } else {
            true
        }
    }

    /// A message field that must be present.
    pub fn required_message<'a, T>(&mut self, field: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.violation(field, "is required");
        }
        value.as_ref()
    }

    /// An id: 1 to 128 characters of letters, digits and `._:-`.
    pub fn id(&mut self, field: &str, value: &str) {
        if !self.required(field, value) {
            return;
        }
        let ok = value.len() <= 128
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !ok {
            self.violation(field, "must be 1 to 128 letters, digits or . _ : -");
        }
    }

    /// A BSN: required, nine digits, passes the eleven test.
    pub fn bsn(&mut self, field: &str, value: &str) {
        if self.required(field, value) && !bsn::is_valid(value) {
            self.violation(
                field,
                "is not a valid BSN (nine digits that pass the eleven test)",
            );
        }
    }

    /// At most `max` characters.
    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.violation(field, format!("is longer than {max} characters"));
        }
    }

    /// An optional e-mail address.
    pub fn email(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let ok = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !value.chars().any(char::is_whitespace);
        if !ok {
            self.violation(field, "is not an e-mail address");
        }
    }

    /// An optional phone number: digits, spaces and `+-()`, 6 to 20 digits.
    pub fn phone(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let ok = value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'))
            && (6..=20).contains(&digits);
        if !ok {
            self.violation(field, "is not a phone number");
        }
    }

    /// A calendar date `YYYY-MM-DD`; empty is allowed unless `required`.
    pub fn date(
        &mut self,
        field: &str,
        value: &str,
        rule: DateRule,
        required: bool,
    ) -> Option<NaiveDate> {
        if value.is_empty() {
            if required {
                self.violation(field, "is required");
            }
            return None;
        }
        let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") else {
            self.violation(field, "is not a date of the form YYYY-MM-DD");
            return None;
        };
        let today = self.now.date_naive();
        let plausible = match rule {
            DateRule::Any => (1900..=2200).contains(&date.year()),
            DateRule::Past => date.year() >= 1900 && date <= today,
            DateRule::Birth => {
                date.year() >= 1900 && today.years_since(date).is_some_and(|age| age >= 15)
            }
            DateRule::Near(days) => (date - today).num_days().abs() <= days,
        };
        if !plausible {
            let why = match rule {
                DateRule::Any => "is not between 1900 and 2200".to_owned(),
                DateRule::Past => "is in the future or before 1900".to_owned(),
                DateRule::Birth => {
                    "is not a plausible birth date (from 1900, at least 15 years ago)".to_owned()
                }
                DateRule::Near(days) => format!("is more than {days} days from today"),
            };
            self.violation(field, why);
            return None;
        }
        Some(date)
    }

    /// A required timestamp, not more than five minutes in the future and
    /// not before 2000.
    pub fn occurred_at(&mut self, field: &str, value: &Option<prost_types::Timestamp>) {
        let Some(ts) = value else {
            self.violation(field, "is required");
            return;
        };
        let Some(at) =
            DateTime::<Utc>::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0))
        else {
            self.violation(field, "is not a valid timestamp");
            return;
        };
        if at > self.now + Duration::minutes(5) {
            self.violation(field, "is in the future");
        } else if at.year() < 2000 {
            self.violation(field, "is before 2000");
        }
    }

    /// An enum value the schema defines; `allow_unspecified` admits 0.
    pub fn known_enum<E: TryFrom<i32>>(
        &mut self,
        field: &str,
        value: i32,
        allow_unspecified: bool,
    ) {
        if E::try_from(value).is_err() {
            self.violation(field, "is not a value of the enum");
        } else if value == 0 && !allow_unspecified {
            self.violation(field, "is required");
        }
    }

    /// A number within `range`.
    pub fn range(&mut self, field: &str, value: f64, range: std::ops::RangeInclusive<f64>) {
        if !value.is_finite() || !range.contains(&value) {
            self.violation(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
    }
}
