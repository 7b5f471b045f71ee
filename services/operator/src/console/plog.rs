//! Processing-log search by person, for the privacy officer answering an
//! access request: a POST (the BSN never appears in a URL), results on the
//! page, and a CSV export (another POST, audited as an export).

use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{ConsoleError, render};
use super::session::Session;
use super::views::{Chrome, LogQuery, LogRow, PlogPage, time};
use crate::search::{self, LoggedDelivery, Purpose, Subject};

/// The search form.
#[derive(Deserialize)]
pub(crate) struct LogForm {
    csrf: Option<String>,
    /// `bsn` or `employee_id`.
    kind: String,
    value: String,
    #[serde(default)]
    reason: String,
}

impl LogForm {
    fn subject(&self) -> Subject {
        match self.kind.as_str() {
            "bsn" => Subject::Bsn(self.value.clone()),
            _ => Subject::EmployeeId(self.value.clone()),
        }
    }

    fn reason(&self) -> &str {
        let reason = self.reason.trim();
        if reason.is_empty() {
            "subject access request"
        } else {
            reason
        }
    }
}

fn row(d: &LoggedDelivery) -> LogRow {
    LogRow {
        logged_at: time(d.logged_at),
        message_type: d.message_type.clone(),
        activity: d.activity.clone(),
        purposes: d.purposes.join(", "),
        legal_basis: d.legal_basis.clone(),
        source: d.source.clone(),
        recipient: d.recipient.clone(),
        categories: d.categories.join(", "),
        fields: format!(
            "{} delivered, {} removed",
            d.fields_delivered, d.fields_removed
        ),
    }
}

/// `GET /processing-log`: the form (or why the role cannot use it).
pub(crate) async fn form(session: Session) -> Response {
    render(&PlogPage {
        chrome: Chrome::new(&session, "processing-log"),
        query: None,
        rows: Vec::new(),
    })
}

/// `POST /processing-log`: every delivery about the person.
pub(crate) async fn search(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LogForm>,
) -> Result<Response, ConsoleError> {
    session.verify(form.csrf.as_deref())?;
    let deliveries = state
        .ops
        .search_log(
            &session.user,
            &form.subject(),
            form.reason(),
            0,
            Purpose::Search,
        )
        .await?;
    Ok(render(&PlogPage {
        chrome: Chrome::new(&session, "processing-log"),
        rows: deliveries.iter().map(row).collect(),
        query: Some(LogQuery {
            kind: form.kind.clone(),
            value: form.value.clone(),
            reason: form.reason().to_owned(),
        }),
    }))
}

/// `POST /processing-log/export.csv`: the same search as a CSV download.
pub(crate) async fn export(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LogForm>,
) -> Result<Response, ConsoleError> {
    session.verify(form.csrf.as_deref())?;
    let deliveries = state
        .ops
        .search_log(
            &session.user,
            &form.subject(),
            form.reason(),
            0,
            Purpose::Export,
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"processing-log.csv\"",
            ),
        ],
        search::to_csv(&deliveries),
    )
        .into_response())
}
