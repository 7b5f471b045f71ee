//! Dead letters as operators see them: groups (by origin queue, reason and
//! message type, like ServicePulse's failed-message groups), lists, one
//! dead letter with its payload redacted, revealing values (privacy
//! officer, audited) and discarding (operator, audited). Retrying is in
//! `replay.rs`. The types are here, the queries in `queries.rs`.

mod queries;

use chrono::{DateTime, Utc};
use hub_core::envelope;
use sqlx::FromRow;
use uuid::Uuid;

use crate::error::OpError;
use crate::redact::Redacted;

/// A group of dead letters. An empty `message_type` stands for dead letters
/// without a `type` property.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
pub struct GroupKey {
    /// The queue the messages failed in.
    pub origin_queue: String,
    /// Why (`no_route`, `delivery_limit`, ...).
    pub reason: String,
    /// The message type.
    pub message_type: String,
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message_type = if self.message_type.is_empty() {
            "(no type)"
        } else {
            &self.message_type
        };
        write!(
            f,
            "{} / {} / {message_type}",
            self.origin_queue, self.reason
        )
    }
}

/// Open dead letters of one group.
#[derive(Clone, Debug)]
pub struct Group {
    /// The group.
    pub key: GroupKey,
    /// How many are open.
    pub count: i64,
    /// Of those, how many still hold their payload.
    pub retriable: i64,
    /// Earliest failure.
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest failure.
    pub last_seen: Option<DateTime<Utc>>,
}

/// A dead letter's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for an operator.
    Open,
    /// Republished to `hub.ingress`.
    Retried,
    /// Dropped by an operator, with a reason.
    Discarded,
    /// Its payload's retention ended.
    Purged,
}

impl State {
    /// The name used in the table.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Retried => "retried",
            State::Discarded => "discarded",
            State::Purged => "purged",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "retried" => State::Retried,
            "discarded" => State::Discarded,
            "purged" => State::Purged,
            _ => State::Open,
        }
    }
}

/// Which dead letters an action applies to.
#[derive(Clone, Debug)]
pub enum Selection {
    /// These.
    Ids(Vec<Uuid>),
    /// Every open one of the group.
    Group(GroupKey),
}

impl Selection {
    /// Parses dead-letter ids given as text.
    pub fn ids<S: AsRef<str>>(ids: &[S]) -> Result<Self, OpError> {
        if ids.is_empty() {
            return Err(OpError::invalid(
                "selection",
                "select at least one dead letter",
            ));
        }
        ids.iter()
            .map(|id| {
                Uuid::parse_str(id.as_ref().trim()).map_err(|_| {
                    OpError::invalid("selection.ids", "each id is a dead-letter id (a UUID)")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Selection::Ids)
    }

    /// What was selected, for the audit log and job descriptions.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Selection::Ids(ids) if ids.len() == 1 => format!("dead letter {}", ids[0]),
            Selection::Ids(ids) => format!("{} selected dead letters", ids.len()),
            Selection::Group(key) => format!("group {key}"),
        }
    }
}

/// A dead letter's metadata (never payload values).
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Its id.
    pub id: Uuid,
    /// Its group.
    pub key: GroupKey,
    /// The dead-letter queue it came through.
    pub dead_queue: String,
    /// AMQP `message_id`.
    pub message_id: String,
    /// The producing party.
    pub source: String,
    /// Readable detail of the reason.
    pub detail: String,
    /// Attempts made.
    pub attempts: i32,
    /// First failure.
    pub first_failure: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_failure: Option<DateTime<Utc>>,
    /// When the keeper stored it.
    pub dead_lettered_at: DateTime<Utc>,
    /// When its payload goes.
    pub expires_at: DateTime<Utc>,
    /// AMQP `content_type`.
    pub content_type: String,
    /// Payload size.
    pub size_bytes: i32,
    /// Whether the payload is still there.
    pub payload_kept: bool,
    /// Lifecycle.
    pub state: State,
    /// When an operator (or the purger) resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who.
    pub resolved_by: String,
    /// Why.
    pub resolution_note: String,
    /// Declared purposes.
    pub purposes: Vec<String>,
    /// Kept envelope headers.
    pub headers: serde_json::Value,
}

#[derive(FromRow)]
pub(crate) struct Row {
    id: Uuid,
    dead_queue: String,
    origin_queue: String,
    message_id: Option<String>,
    message_type: Option<String>,
    source: Option<String>,
    reason: String,
    detail: String,
    attempts: i32,
    first_failure: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
    dead_lettered_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    content_type: Option<String>,
    size_bytes: i32,
    headers: serde_json::Value,
    payload_kept: bool,
    state: String,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution_note: String,
}

pub(crate) const COLUMNS: &str =
    "id, dead_queue, origin_queue, message_id, message_type, source, reason, detail, attempts,
    first_failure, last_failure, dead_lettered_at, expires_at, content_type, size_bytes, headers,
    payload IS NOT NULL AS payload_kept, state, resolved_at, resolved_by, resolution_note";

impl From<Row> for DeadLetter {
    fn from(r: Row) -> Self {
        let purposes = r
            .headers
            .get(envelope::H_PURPOSE)
            .and_then(serde_json::Value::as_str)
            .map(envelope::parse_purposes)
            .unwrap_or_default();
        DeadLetter {
            id: r.id,
            key: GroupKey {
                origin_queue: r.origin_queue,
                reason: r.reason,
                message_type: r.message_type.unwrap_or_default(),
            },
            dead_queue: r.dead_queue,
            message_id: r.message_id.unwrap_or_default(),
            source: r.source.unwrap_or_default(),
            detail: r.detail,
            attempts: r.attempts,
            first_failure: r.first_failure,
            last_failure: r.last_failure,
            dead_lettered_at: r.dead_lettered_at,
            expires_at: r.expires_at,
            content_type: r.content_type.unwrap_or_default(),
            size_bytes: r.size_bytes,
            payload_kept: r.payload_kept,
            state: State::parse(&r.state),
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by.unwrap_or_default(),
            resolution_note: r.resolution_note,
            purposes,
            headers: r.headers,
        }
    }
}

/// A list of dead letters, possibly cut at its limit.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The dead letters, oldest first.
    pub dead_letters: Vec<DeadLetter>,
    /// How many match in all.
    pub total: i64,
}

/// What a discard did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discarded {
    /// Dead letters discarded.
    pub discarded: u32,
    /// Selected but not open.
    pub skipped: u32,
}

/// A dead letter with its payload as the caller may see it.
#[derive(Clone, Debug)]
pub struct Inspected {
    /// Metadata.
    pub dead_letter: DeadLetter,
    /// Fields with categories; values only when revealed. `None` when the
    /// payload is gone.
    pub payload: Option<Redacted>,
    /// The payload as text when revealed and it did not decode.
    pub raw_payload: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A dead letter of `message_type` with a JSON payload.
    pub(crate) fn sample(message_type: &str) -> DeadLetter {
        DeadLetter {
            id: Uuid::nil(),
            key: GroupKey {
                origin_queue: "hub.router".to_owned(),
                reason: "no_route".to_owned(),
                message_type: message_type.to_owned(),
            },
            dead_queue: "dead.hub.router".to_owned(),
            message_id: "m-1".to_owned(),
            source: "reintegration-tool".to_owned(),
            detail: String::new(),
            attempts: 1,
            first_failure: None,
            last_failure: None,
            dead_lettered_at: Utc::now(),
            expires_at: Utc::now(),
            content_type: "application/json".to_owned(),
            size_bytes: 0,
            payload_kept: true,
            state: State::Open,
            resolved_at: None,
            resolved_by: String::new(),
            resolution_note: String::new(),
            purposes: Vec::new(),
            headers: serde_json::json!({}),
        }
    }

    #[test]
    fn selections_parse_and_describe() {
        assert!(Selection::ids::<&str>(&[]).is_err());
        assert!(Selection::ids(&["not-a-uuid"]).is_err());
        let one = Selection::ids(&[Uuid::nil().to_string()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.describe(), format!("dead letter {}", Uuid::nil()));
    }
}
