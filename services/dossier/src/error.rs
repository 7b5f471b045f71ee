//! The errors of `DossierService` and the one place that turns them (and
//! database errors) into gRPC statuses. Messages never carry personal data;
//! database details are logged, never sent.

use hub_core::db::{DbFailure, classify};
use hub_policy::FieldViolation;
use tonic::Status;

use crate::rules::Denial;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Bad input: `INVALID_ARGUMENT` with `BadRequest` details.
    #[error("invalid fields")]
    Invalid(Vec<FieldViolation>),
    /// The caller may not do this: `PERMISSION_DENIED`.
    #[error("{0}")]
    Denied(String),
    /// The state of the dossier does not allow it: `FAILED_PRECONDITION`.
    #[error("{0}")]
    Precondition(String),
    /// `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl ApiError {
    /// One invalid field.
    pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        }])
    }

    /// PERMISSION_DENIED with `message`.
    pub(crate) fn denied(message: &str) -> Self {
        ApiError::Denied(message.to_owned())
    }

    /// FAILED_PRECONDITION with `message`.
    pub(crate) fn precondition(message: &str) -> Self {
        ApiError::Precondition(message.to_owned())
    }

    /// NOT_FOUND with `message`.
    pub(crate) fn not_found(message: &str) -> Self {
        ApiError::NotFound(message.to_owned())
    }
}

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NotFound => ApiError::not_found(denial.message()),
            _ => ApiError::denied(denial.message()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Invalid(violations) => hub_core::grpc::invalid_argument(&violations),
            ApiError::Denied(m) => Status::permission_denied(m),
            ApiError::Precondition(m) => Status::failed_precondition(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::Store(error) => match classify(&error) {
                DbFailure::Transient => {
                    tracing::warn!(error = %error, "dossier store unavailable");
                    Status::unavailable("the dossier store is not available; retry later")
                }
                DbFailure::UniqueViolation => {
                    tracing::info!(error = %error, "dossier write conflicts with an existing row");
                    Status::already_exists("that record already exists")
                }
                DbFailure::Permanent => {
                    tracing::error!(error = %error, "dossier store failed");
                    Status::internal("the dossier store failed; the error is logged")
                }
            },
        }
    }
}

/// Collects field violations, so a request reports every bad field at once.
#[derive(Default)]
pub(crate) struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records that `field` is wrong.
    pub(crate) fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        });
    }

    /// `field` must not be blank.
    pub(crate) fn require(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        }
    }

    /// Ok when nothing was recorded.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}
