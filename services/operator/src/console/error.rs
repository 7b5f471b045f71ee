//! The one place that turns an [`OpError`] into an HTTP response of the
//! console, and renders templates.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::views::ErrorPage;
use crate::error::OpError;

/// A failed console request: a status and a message without personal data.
#[derive(Debug)]
pub(crate) struct ConsoleError {
    status: StatusCode,
    message: String,
}

impl ConsoleError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<OpError> for ConsoleError {
    fn from(error: OpError) -> Self {
        let status = match &error {
            OpError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            OpError::Denied { .. } => StatusCode::FORBIDDEN,
            OpError::Invalid(_) => StatusCode::BAD_REQUEST,
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Precondition(_) => StatusCode::CONFLICT,
            OpError::Store(_) | OpError::Publish(_) if error.is_transient() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            OpError::Store(_) | OpError::Publish(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &error {
            OpError::Store(_) | OpError::Publish(_) => error.log_internal().to_owned(),
            OpError::Invalid(violations) => violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; "),
            _ => error.to_string(),
        };
        Self { status, message }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            message: self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

/// Renders a template; a template that fails (a bug) becomes a plain 500.
pub(crate) fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}
