//! The errors of what operators do, shared by `OperatorService` and the
//! console. Each front end maps them in one place: gRPC statuses in
//! [`crate::grpc`], HTTP responses in `console::error`. Messages never carry
//! personal data; database and broker details are logged, never sent.

use hub_core::amqp::publisher::PublishError;
use hub_core::db::{DbFailure, classify};
use hub_policy::FieldViolation;

/// Why an operator's request failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No credentials, or unknown ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// The role may not do this.
    #[error("role {role} may not {action}")]
    Denied {
        /// The caller's role.
        role: &'static str,
        /// What was refused.
        action: &'static str,
    },
    /// Bad input.
    #[error("invalid fields: {}", .0.iter().map(|v| v.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldViolation>),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it (e.g. the payload is gone).
    #[error("{0}")]
    Precondition(String),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    /// The broker refused or did not confirm a publish.
    #[error("broker: {0}")]
    Publish(#[from] PublishError),
}

impl OpError {
    /// One invalid field.
    pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Self {
        OpError::Invalid(vec![FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        }])
    }

    /// What a front end may say about an internal failure, after logging
    /// the details: `true` when trying again later may work.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            OpError::Store(error) => classify(error) == DbFailure::Transient,
            OpError::Publish(_) => true,
            _ => false,
        }
    }

    /// Logs an internal failure (never sent to the caller) and returns the
    /// text the caller gets instead.
    pub(crate) fn log_internal(&self) -> &'static str {
        match self {
            OpError::Store(error) => {
                tracing::warn!(error = %error, "operator store failed");
                "the database is not available; retry later"
            }
            OpError::Publish(error) => {
                tracing::warn!(error = %error, "operator publish failed");
                "the broker did not take the message; retry later"
            }
            _ => "internal error",
        }
    }
}
