//! Who is calling `DossierService`: the records manager (the `admin`
//! identity of the hub's credentials) or a person, by personnel number (the
//! dossier users). The identity comes from the bearer token, never from the
//! payload.

use hub_core::auth::Credentials;
use tonic::{Request, Status};

use crate::error::ApiError;

/// The identity of the records manager in the hub's credentials.
pub const RECORDS_MANAGER: &str = "admin";

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The records manager (`admin`).
    RecordsManager,
    /// A person, by personnel number (or, for next of kin, the identity the
    /// records manager issued).
    Person(String),
}

impl Caller {
    /// The name recorded as actor, grantor or decider.
    pub(crate) fn actor(&self) -> &str {
        match self {
            Caller::RecordsManager => RECORDS_MANAGER,
            Caller::Person(number) => number,
        }
    }

    /// Ok for the records manager only.
    pub(crate) fn require_records_manager(&self) -> Result<(), ApiError> {
        match self {
            Caller::RecordsManager => Ok(()),
            Caller::Person(_) => Err(ApiError::denied(
                "only the records manager keeps the authorisation matrix, retention and decisions",
            )),
        }
    }

    /// The personnel number of a person caller.
    pub(crate) fn require_person(&self) -> Result<&str, ApiError> {
        match self {
            Caller::Person(number) => Ok(number),
            Caller::RecordsManager => Err(ApiError::denied(
                "this is for persons with a personnel number, not the records manager",
            )),
        }
    }

    /// The dossier a subject right is exercised on: a person's own (a
    /// different number is refused); the records manager must name one.
    pub(crate) fn subject_dossier(&self, requested: &str) -> Result<String, ApiError> {
        let requested = requested.trim();
        match self {
            Caller::Person(own) if requested.is_empty() || requested == own => Ok(own.clone()),
            Caller::Person(_) => Err(ApiError::denied(
                "a person exercises these rights on their own dossier only",
            )),
            Caller::RecordsManager if requested.is_empty() => Err(ApiError::invalid(
                "personnel_number",
                "is required for the records manager",
            )),
            Caller::RecordsManager => Ok(requested.to_owned()),
        }
    }
}

/// The two sets of tokens the service knows.
#[derive(Clone, Debug)]
pub(crate) struct Identities {
    /// The hub's credentials; only `admin` has a role here.
    pub(crate) credentials: Credentials,
    /// Token → personnel number.
    pub(crate) users: Credentials,
}

impl Identities {
    /// The caller of `request`: `UNAUTHENTICATED` without a known token,
    /// `PERMISSION_DENIED` for a party token (WenS, processors, …).
    pub(crate) fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        match self.credentials.authenticate(request) {
            Ok(identity) if identity == RECORDS_MANAGER => Ok(Caller::RecordsManager),
            Ok(_) => Err(Status::permission_denied(
                "party tokens have no access to personnel dossiers",
            )),
            Err(_) => self.users.authenticate(request).map(Caller::Person),
        }
    }
}
