//! The console's templates (`templates/*.html`) and the view models they
//! render: plain strings and numbers, formatted here so templates stay
//! free of logic. Values of personal data appear only in a revealed
//! message view and in processing-log search results.

use askama::Template;
use chrono::{DateTime, Utc};

use super::session::Session;
use crate::auth::Action;
use crate::dead_letters::{DeadLetter, Group, GroupKey};
use crate::overview::Overview;
use crate::redact::Redacted;
use crate::replay::Job;

/// How masked values look: the same whatever the value, so nothing about
/// its length or shape leaks.
pub(crate) const MASK: &str = "••••••";

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(crate) fn time_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_else(|| "-".to_owned())
}

/// Percent-encodes a query value.
pub(crate) fn enc(value: &str) -> String {
    hub_core::rabbit_api::encode_segment(value)
}

/// The page frame: who is logged in, the CSRF token, what they may do.
pub(crate) struct Chrome {
    pub(crate) user: String,
    pub(crate) role: &'static str,
    pub(crate) csrf: String,
    pub(crate) section: &'static str,
    pub(crate) may_act: bool,
    pub(crate) may_reveal: bool,
    pub(crate) may_search: bool,
}

impl Chrome {
    pub(crate) fn new(session: &Session, section: &'static str) -> Self {
        let role = session.user.role;
        Self {
            user: session.user.name.clone(),
            role: role.as_str(),
            csrf: session.csrf.clone(),
            section,
            may_act: role.may(Action::Act),
            may_reveal: role.may(Action::Reveal),
            may_search: role.may(Action::SearchSubject),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) csrf: String,
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) status: u16,
    pub(crate) message: String,
}

pub(crate) struct QueueRow {
    pub(crate) name: String,
    pub(crate) ready: u64,
    pub(crate) unacked: u64,
    pub(crate) consumers: u64,
    pub(crate) publish_rate: String,
    pub(crate) deliver_rate: String,
    pub(crate) attention: bool,
}

pub(crate) struct StateRow {
    pub(crate) name: String,
    pub(crate) ready: bool,
    pub(crate) detail: String,
    pub(crate) since: String,
}

pub(crate) struct NodeRow {
    pub(crate) name: String,
    pub(crate) running: bool,
    pub(crate) memory_alarm: bool,
    pub(crate) disk_alarm: bool,
}

pub(crate) struct OverviewView {
    pub(crate) queues: Vec<QueueRow>,
    pub(crate) nodes: Vec<NodeRow>,
    pub(crate) components: Vec<StateRow>,
    pub(crate) services: Vec<StateRow>,
    pub(crate) broker_error: Option<String>,
    pub(crate) alarm: bool,
    pub(crate) refreshed_at: String,
}

impl From<Overview> for OverviewView {
    fn from(o: Overview) -> Self {
        let alarm = o.alarm();
        let state = |c: crate::overview::Component| StateRow {
            name: c.name,
            ready: c.ready,
            detail: c.detail,
            since: time_opt(c.since),
        };
        Self {
            queues: o
                .queues
                .into_iter()
                .map(|q| QueueRow {
                    attention: q.name.starts_with("dead.") && q.ready > 0,
                    name: q.name,
                    ready: q.ready,
                    unacked: q.unacked,
                    consumers: q.consumers,
                    publish_rate: format!("{:.1}", q.publish_rate),
                    deliver_rate: format!("{:.1}", q.deliver_rate),
                })
                .collect(),
            nodes: o
                .nodes
                .into_iter()
                .map(|n| NodeRow {
                    name: n.name,
                    running: n.running,
                    memory_alarm: n.memory_alarm,
                    disk_alarm: n.disk_alarm,
                })
                .collect(),
            components: o.components.into_iter().map(state).collect(),
            services: o.services.into_iter().map(state).collect(),
            broker_error: o.broker_error,
            alarm,
            refreshed_at: time(Utc::now()),
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    pub(crate) chrome: Chrome,
    pub(crate) view: OverviewView,
}

#[derive(Template)]
#[template(path = "overview_live.html")]
pub(crate) struct OverviewLive {
    pub(crate) view: OverviewView,
}

pub(crate) struct GroupRow {
    pub(crate) queue: String,
    pub(crate) reason: String,
    pub(crate) message_type: String,
    pub(crate) href: String,
    pub(crate) count: i64,
    pub(crate) retriable: i64,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
}

pub(crate) fn group_href(key: &GroupKey) -> String {
    format!(
        "/dead-letters/group?queue={}&reason={}&type={}",
        enc(&key.origin_queue),
        enc(&key.reason),
        enc(&key.message_type)
    )
}

impl From<Group> for GroupRow {
    fn from(g: Group) -> Self {
        Self {
            href: group_href(&g.key),
            queue: g.key.origin_queue,
            reason: g.key.reason,
            message_type: g.key.message_type,
            count: g.count,
            retriable: g.retriable,
            first_seen: time_opt(g.first_seen),
            last_seen: time_opt(g.last_seen),
        }
    }
}

#[derive(Template)]
#[template(path = "groups.html")]
pub(crate) struct GroupsPage {
    pub(crate) chrome: Chrome,
    pub(crate) groups: Vec<GroupRow>,
    pub(crate) notice: Option<String>,
}

pub(crate) struct LetterRow {
    pub(crate) id: String,
    pub(crate) message_id: String,
    pub(crate) source: String,
    pub(crate) attempts: i32,
    pub(crate) last_failure: String,
    pub(crate) detail: String,
    pub(crate) payload_kept: bool,
}

impl From<&DeadLetter> for LetterRow {
    fn from(d: &DeadLetter) -> Self {
        Self {
            id: d.id.to_string(),
            message_id: d.message_id.clone(),
            source: d.source.clone(),
            attempts: d.attempts,
            last_failure: time_opt(d.last_failure.or(Some(d.dead_lettered_at))),
            detail: d.detail.clone(),
            payload_kept: d.payload_kept,
        }
    }
}

#[derive(Template)]
#[template(path = "group.html")]
pub(crate) struct GroupPage {
    pub(crate) chrome: Chrome,
    pub(crate) key: GroupKey,
    pub(crate) rows: Vec<LetterRow>,
    pub(crate) total: i64,
    /// More are open than shown.
    pub(crate) more: bool,
}

pub(crate) struct FieldRow {
    pub(crate) path: String,
    pub(crate) category: String,
    pub(crate) count: u32,
    pub(crate) values: Vec<String>,
}

/// The message view: metadata, and the payload masked or revealed.
pub(crate) struct MessageView {
    pub(crate) id: String,
    pub(crate) group_href: String,
    pub(crate) facts: Vec<(&'static str, String)>,
    pub(crate) headers_json: String,
    pub(crate) open: bool,
    pub(crate) payload_kept: bool,
    pub(crate) fields: Vec<FieldRow>,
    pub(crate) decode_error: Option<String>,
    pub(crate) revealed: bool,
    pub(crate) raw: Option<String>,
}

impl MessageView {
    pub(crate) fn new(
        d: &DeadLetter,
        payload: Option<&Redacted>,
        revealed: bool,
        raw: Option<String>,
    ) -> Self {
        let facts = vec![
            ("state", d.state.as_str().to_owned()),
            ("origin queue", d.key.origin_queue.clone()),
            ("reason", d.key.reason.clone()),
            ("detail", d.detail.clone()),
            ("message type", d.key.message_type.clone()),
            ("message id", d.message_id.clone()),
            ("source", d.source.clone()),
            ("purposes", d.purposes.join(", ")),
            ("attempts", d.attempts.to_string()),
            ("first failure", time_opt(d.first_failure)),
            ("last failure", time_opt(d.last_failure)),
            ("dead-lettered at", time(d.dead_lettered_at)),
            ("payload removed at the latest", time(d.expires_at)),
            ("content type", d.content_type.clone()),
            ("size", format!("{} bytes", d.size_bytes)),
            (
                "resolved",
                format!(
                    "{} {} {}",
                    time_opt(d.resolved_at),
                    d.resolved_by,
                    d.resolution_note
                ),
            ),
        ];
        let fields = payload
            .map(|p| {
                p.fields
                    .iter()
                    .map(|f| FieldRow {
                        path: f.path.clone(),
                        category: f.category.clone(),
                        count: f.count,
                        values: if revealed {
                            f.values.clone()
                        } else {
                            vec![MASK.to_owned(); f.count.min(20) as usize]
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: d.id.to_string(),
            group_href: group_href(&d.key),
            facts,
            headers_json: serde_json::to_string_pretty(&d.headers).unwrap_or_default(),
            open: d.state == crate::dead_letters::State::Open,
            payload_kept: d.payload_kept,
            fields,
            decode_error: payload.and_then(|p| p.decode_error.clone()),
            revealed,
            raw,
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub(crate) chrome: Chrome,
    pub(crate) m: MessageView,
}

pub(crate) struct ProgressView {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) started_by: String,
    pub(crate) started_at: String,
    pub(crate) total: u32,
    pub(crate) retried: u32,
    pub(crate) skipped: u32,
    pub(crate) failed: u32,
    pub(crate) processed: u32,
    pub(crate) done: bool,
    pub(crate) state: String,
    pub(crate) error: Option<String>,
    pub(crate) stale: bool,
}

impl From<Job> for ProgressView {
    fn from(job: Job) -> Self {
        let p = job.progress;
        Self {
            id: p.job_id.to_string(),
            description: job.description,
            started_by: job.started_by,
            started_at: time(job.started_at),
            total: p.total,
            retried: p.retried,
            skipped: p.skipped,
            failed: p.failed,
            processed: p.retried + p.skipped + p.failed,
            done: p.done,
            error: p.error,
            stale: !p.done && Utc::now() - job.updated_at > chrono::Duration::minutes(2),
            state: job.state,
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
pub(crate) struct JobPage {
    pub(crate) chrome: Chrome,
    pub(crate) progress: ProgressView,
}

#[derive(Template)]
#[template(path = "job_progress.html")]
pub(crate) struct JobProgress {
    pub(crate) progress: ProgressView,
}

pub(crate) struct LogRow {
    pub(crate) logged_at: String,
    pub(crate) message_type: String,
    pub(crate) activity: String,
    pub(crate) purposes: String,
    pub(crate) legal_basis: String,
    pub(crate) source: String,
    pub(crate) recipient: String,
    pub(crate) categories: String,
    pub(crate) fields: String,
}

/// What was searched, carried in the page (never in a URL) for the export.
pub(crate) struct LogQuery {
    pub(crate) kind: String,
    pub(crate) value: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "plog.html")]
pub(crate) struct PlogPage {
    pub(crate) chrome: Chrome,
    pub(crate) query: Option<LogQuery>,
    pub(crate) rows: Vec<LogRow>,
}

pub(crate) struct RouteView {
    pub(crate) title: String,
    pub(crate) facts: Vec<(&'static str, String)>,
    pub(crate) fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
pub(crate) struct CatalogPage {
    pub(crate) chrome: Chrome,
    pub(crate) version: String,
    pub(crate) register: String,
    pub(crate) routes: Vec<RouteView>,
}
