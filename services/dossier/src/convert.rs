//! Conversions between the wire (proto enums, timestamps, `YYYY-MM-DD`
//! dates) and the rules, with the validation of each input kind.

use chrono::{DateTime, NaiveDate, Utc};
use hub_proto::dossier::v1 as pb;
use prost_types::Timestamp;
use uuid::Uuid;

use crate::error::{ApiError, Violations};
use crate::rules::{Nature, Restriction, Scope};

/// The wire form of a time.
pub(crate) fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional time on the wire.
pub(crate) fn opt_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

/// A time from the wire.
pub(crate) fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// A date as `YYYY-MM-DD`, empty when absent.
pub(crate) fn date_text(date: Option<NaiveDate>) -> String {
    date.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Parses `YYYY-MM-DD`, recording a violation on `field` when it does not.
pub(crate) fn parse_date(v: &mut Violations, field: &str, text: &str) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            v.add(field, "must be a date as YYYY-MM-DD");
            None
        }
    }
}

/// True for a plausible personnel number (or issued identity): 1–32
/// letters, digits and hyphens. The check keeps free text out of the
/// matrix; it does not say the number exists.
pub(crate) fn is_personnel_number(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks a personnel number field.
pub(crate) fn check_number(v: &mut Violations, field: &str, text: &str) {
    if !is_personnel_number(text) {
        v.add(
            field,
            "must be a personnel number (1-32 letters, digits, hyphens)",
        );
    }
}

/// A personnel number field, trimmed, checked into `v`.
pub(crate) fn personnel_number(v: &mut Violations, field: &str, raw: &str) -> String {
    let number = raw.trim().to_owned();
    check_number(v, field, &number);
    number
}

/// Parses an id field.
pub(crate) fn parse_id(field: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim()).map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// The nature of a grant from the wire.
pub(crate) fn nature(value: i32) -> Option<Nature> {
    match pb::GrantNature::try_from(value).ok()? {
        pb::GrantNature::Read => Some(Nature::Read),
        pb::GrantNature::Write => Some(Nature::Write),
        pb::GrantNature::Audit => Some(Nature::Audit),
        pb::GrantNature::Report => Some(Nature::Report),
        pb::GrantNature::Unspecified => None,
    }
}

/// The wire form of a nature.
pub(crate) fn nature_pb(nature: Nature) -> pb::GrantNature {
    match nature {
        Nature::Read => pb::GrantNature::Read,
        Nature::Write => pb::GrantNature::Write,
        Nature::Audit => pb::GrantNature::Audit,
        Nature::Report => pb::GrantNature::Report,
    }
}

/// A scope from the wire, recording violations.
pub(crate) fn scope(v: &mut Violations, scope: Option<&pb::Scope>) -> Option<Scope> {
    let Some(scope) = scope else {
        v.add("scope", "is required");
        return None;
    };
    let value = scope.value.trim().to_owned();
    let kind = pb::ScopeKind::try_from(scope.kind).unwrap_or(pb::ScopeKind::Unspecified);
    match kind {
        pb::ScopeKind::All if value.is_empty() => Some(Scope::All),
        pb::ScopeKind::All => {
            v.add("scope.value", "must be empty for SCOPE_KIND_ALL");
            None
        }
        pb::ScopeKind::Unspecified => {
            v.add("scope.kind", "is required");
            None
        }
        _ if value.is_empty() || value.len() > 200 => {
            v.add("scope.value", "is required (at most 200 characters)");
            None
        }
        pb::ScopeKind::DefenceBranch => Some(Scope::DefenceBranch(value)),
        pb::ScopeKind::Unit => Some(Scope::Unit(value)),
        pb::ScopeKind::Dossier => {
            check_number(v, "scope.value", &value);
            Some(Scope::Dossier(value))
        }
    }
}

/// The wire form of a scope.
pub(crate) fn scope_pb(scope: &Scope) -> pb::Scope {
    let (kind, value) = match scope {
        Scope::All => (pb::ScopeKind::All, ""),
        Scope::DefenceBranch(b) => (pb::ScopeKind::DefenceBranch, b.as_str()),
        Scope::Unit(u) => (pb::ScopeKind::Unit, u.as_str()),
        Scope::Dossier(n) => (pb::ScopeKind::Dossier, n.as_str()),
    };
    pb::Scope {
        kind: kind.into(),
        value: value.to_owned(),
    }
}

/// A restriction from the wire.
pub(crate) fn restriction(value: i32) -> Option<Restriction> {
    match pb::Restriction::try_from(value).ok()? {
        pb::Restriction::None => Some(Restriction::None),
        pb::Restriction::Mivd => Some(Restriction::Mivd),
        pb::Restriction::SpecialUnit => Some(Restriction::SpecialUnit),
        pb::Restriction::ManagementDevelopment => Some(Restriction::ManagementDevelopment),
        pb::Restriction::Unspecified => None,
    }
}

/// The wire form of a stored restriction.
pub(crate) fn restriction_pb(stored: &str) -> pb::Restriction {
    match Restriction::parse(stored) {
        Some(Restriction::None) => pb::Restriction::None,
        Some(Restriction::Mivd) => pb::Restriction::Mivd,
        Some(Restriction::SpecialUnit) => pb::Restriction::SpecialUnit,
        Some(Restriction::ManagementDevelopment) => pb::Restriction::ManagementDevelopment,
        None => pb::Restriction::Unspecified,
    }
}

/// Text input: trimmed, and refused when longer than `max` characters.
pub(crate) fn required_text(v: &mut Violations, field: &str, value: &str, max: usize) -> String {
    v.require(field, value);
    text(v, field, value, max)
}

/// A free-text field, trimmed, at most `max` characters.
pub(crate) fn text(v: &mut Violations, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        v.add(field, format!("is longer than {max} characters"));
    }
    value.to_owned()
}
