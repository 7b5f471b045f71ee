//! Console pages: overview, dead letters (groups, group, message, reveal,
//! retry, discard), retry jobs with a live counter, and the catalog.
//! Every handler takes the [`Session`]; every POST checks its CSRF token
//! before anything else; what a role may do is decided by [`crate::ops`].

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{ConsoleError, render};
use super::session::Session;
use super::views::{
    CatalogPage, Chrome, GroupPage, GroupRow, GroupsPage, JobPage, JobProgress, LetterRow,
    MessagePage, MessageView, OverviewLive, OverviewPage, ProgressView, RouteView,
};
use crate::dead_letters::{GroupKey, Selection, State as LetterState};
use crate::error::OpError;
use crate::replay::Pace;

type Page = Result<Response, ConsoleError>;

/// A posted form as name-value pairs (checkboxes repeat `id`).
type Pairs = Vec<(String, String)>;

fn field<'a>(form: &'a Pairs, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn selection(form: &Pairs) -> Result<Selection, OpError> {
    if field(form, "scope") == Some("group") {
        let get = |name| field(form, name).unwrap_or_default().to_owned();
        let key = GroupKey {
            origin_queue: get("queue"),
            reason: get("group_reason"),
            message_type: get("type"),
        };
        if key.origin_queue.is_empty() {
            return Err(OpError::invalid("queue", "name the group's queue"));
        }
        return Ok(Selection::Group(key));
    }
    // The group's reason travels as `group_reason`: `reason` is the
    // operator's note or reason for discarding.
    let ids: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    Selection::ids(&ids)
}

/// `GET /`.
pub(crate) async fn home(_session: Session) -> Redirect {
    Redirect::to("/overview")
}

/// `GET /overview`.
pub(crate) async fn overview(State(state): State<AppState>, session: Session) -> Page {
    let view = state.ops.overview(&session.user).await?.into();
    Ok(render(&OverviewPage {
        chrome: Chrome::new(&session, "overview"),
        view,
    }))
}

/// `GET /overview/live`: the fragment htmx refreshes.
pub(crate) async fn overview_live(State(state): State<AppState>, session: Session) -> Page {
    let view = state.ops.overview(&session.user).await?.into();
    Ok(render(&OverviewLive { view }))
}

#[derive(Deserialize)]
pub(crate) struct Notice {
    discarded: Option<u32>,
}

/// `GET /dead-letters`: open dead letters by group.
pub(crate) async fn groups(
    State(state): State<AppState>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Page {
    let groups = state.ops.groups(&session.user).await?;
    Ok(render(&GroupsPage {
        chrome: Chrome::new(&session, "dead-letters"),
        groups: groups.into_iter().map(GroupRow::from).collect(),
        notice: notice
            .discarded
            .map(|n| format!("{n} dead letters discarded")),
    }))
}

#[derive(Deserialize)]
pub(crate) struct GroupQuery {
    queue: String,
    reason: String,
    #[serde(rename = "type", default)]
    message_type: String,
}

/// `GET /dead-letters/group?queue=&reason=&type=`: the open dead letters
/// of one group (metadata only; the query names no person).
pub(crate) async fn group(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<GroupQuery>,
) -> Page {
    let key = GroupKey {
        origin_queue: query.queue,
        reason: query.reason,
        message_type: query.message_type,
    };
    let listing = state
        .ops
        .list(&session.user, Some(&key), LetterState::Open, 500)
        .await?;
    Ok(render(&GroupPage {
        chrome: Chrome::new(&session, "dead-letters"),
        rows: listing.dead_letters.iter().map(LetterRow::from).collect(),
        total: listing.total,
        more: listing.total > i64::try_from(listing.dead_letters.len()).unwrap_or(i64::MAX),
        key,
    }))
}

/// `GET /dead-letters/{id}`: metadata and the masked payload.
pub(crate) async fn message(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page {
    let inspected = state.ops.inspect(&session.user, &id).await?;
    Ok(render(&MessagePage {
        chrome: Chrome::new(&session, "dead-letters"),
        m: MessageView::new(
            &inspected.dead_letter,
            inspected.payload.as_ref(),
            false,
            None,
        ),
    }))
}

#[derive(Deserialize)]
pub(crate) struct RevealForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
}

/// `POST /dead-letters/{id}/reveal`: the values, for the privacy officer,
/// with a reason; audited before they are shown.
pub(crate) async fn reveal(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<RevealForm>,
) -> Page {
    session.verify(form.csrf.as_deref())?;
    let inspected = state.ops.reveal(&session.user, &id, &form.reason).await?;
    Ok(render(&MessagePage {
        chrome: Chrome::new(&session, "dead-letters"),
        m: MessageView::new(
            &inspected.dead_letter,
            inspected.payload.as_ref(),
            true,
            inspected.raw_payload,
        ),
    }))
}

/// `POST /dead-letters/retry`: one, the selected, or a whole group
/// (`scope=group`); starts a job and shows its progress.
pub(crate) async fn retry(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<Pairs>,
) -> Page {
    session.verify(field(&form, "csrf"))?;
    let selection = selection(&form)?;
    let note = field(&form, "reason").unwrap_or_default();
    let progress = state
        .ops
        .start_retry(&session.user, &selection, Pace::default(), note)
        .await?;
    let job = progress.borrow().job_id;
    Ok(Redirect::to(&format!("/jobs/{job}")).into_response())
}

/// `POST /dead-letters/discard`: with a reason; the payload goes.
pub(crate) async fn discard(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<Pairs>,
) -> Page {
    session.verify(field(&form, "csrf"))?;
    let selection = selection(&form)?;
    let reason = field(&form, "reason").unwrap_or_default();
    let done = state.ops.discard(&session.user, &selection, reason).await?;
    Ok(Redirect::to(&format!("/dead-letters?discarded={}", done.discarded)).into_response())
}

/// `GET /jobs/{id}`: a retry job with its live counter.
pub(crate) async fn job(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page {
    let job = state.ops.job(&session.user, &id).await?;
    Ok(render(&JobPage {
        chrome: Chrome::new(&session, "dead-letters"),
        progress: ProgressView::from(job),
    }))
}

/// `GET /jobs/{id}/progress`: the counter htmx polls until the job is done.
pub(crate) async fn job_progress(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page {
    let job = state.ops.job(&session.user, &id).await?;
    Ok(render(&JobProgress {
        progress: ProgressView::from(job),
    }))
}

/// `GET /catalog`: the register as generated from the catalog, and each
/// route's field list with categories.
pub(crate) async fn catalog(State(state): State<AppState>, session: Session) -> Page {
    session.user.require(crate::auth::Action::View)?;
    let catalog = state.ops.catalog();
    let routes = catalog
        .routes()
        .iter()
        .map(|r| {
            let categories = catalog.categories();
            RouteView {
                title: format!("{} → {}", r.message_type, r.recipient),
                facts: vec![
                    ("queue", r.queue.clone()),
                    (
                        "purposes",
                        r.purposes.iter().cloned().collect::<Vec<_>>().join(", "),
                    ),
                    ("legal basis", r.legal_basis.clone()),
                    (
                        "statutory basis for the BSN",
                        r.statutory_basis
                            .clone()
                            .unwrap_or_else(|| "none".to_owned()),
                    ),
                    ("encoding", r.encoding.as_str().to_owned()),
                    (
                        "retention in the hub",
                        hub_policy::duration::format(r.retention),
                    ),
                ],
                fields: r
                    .leaves
                    .iter()
                    .map(|(path, index)| {
                        let category = categories
                            .get(*index)
                            .map_or_else(String::new, |c| c.id.clone());
                        (path.clone(), category)
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(render(&CatalogPage {
        chrome: Chrome::new(&session, "catalog"),
        version: catalog.version().to_owned(),
        register: hub_policy::register::html_fragment(catalog),
        routes,
    }))
}
