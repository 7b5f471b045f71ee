//! Operators, their roles, and what each role may do.
//!
//! Operators are configured in a TOML file (`HUB_OPERATORS_FILE`) holding
//! SHA-256 digests of their tokens, or, for development, in
//! `HUB_OPERATORS=name:role:token,...`. In production the identity provider
//! of Defensie (OIDC) takes this place; see the README.

use std::collections::BTreeMap;

use hub_core::auth::Credentials;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::OpError;

/// An operator's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sees queues, dead-letter groups (masked) and the catalog.
    Viewer,
    /// A viewer who may also retry and discard dead letters.
    Operator,
    /// A viewer who may also reveal masked values and search the processing
    /// log by person (subject access requests).
    PrivacyOfficer,
}

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Look at queues, dead letters (masked), catalog, metrics.
    View,
    /// Retry or discard dead letters.
    Act,
    /// Reveal masked values of a dead letter.
    Reveal,
    /// Search the processing log by BSN or employee id.
    SearchSubject,
}

impl Action {
    /// What the action is, for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Act => "retry or discard dead letters",
            Action::Reveal => "reveal dead-letter values",
            Action::SearchSubject => "search the processing log by person",
        }
    }
}

impl Role {
    /// The one place that decides what a role may do.
    #[must_use]
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::View => true,
            Action::Act => self == Role::Operator,
            Action::Reveal | Action::SearchSubject => self == Role::PrivacyOfficer,
        }
    }

    /// The role's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::PrivacyOfficer => "privacy-officer",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "privacy-officer" => Ok(Role::PrivacyOfficer),
            other => Err(format!(
                "unknown role `{other}` (viewer, operator, privacy-officer)"
            )),
        }
    }
}

/// An authenticated operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorUser {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// The configured operators.
#[derive(Clone, Debug, Default)]
pub struct Operators {
    tokens: Credentials,
    digests: BTreeMap<[u8; 32], String>,
    roles: BTreeMap<String, Role>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    operator: Vec<FileEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    role: Role,
    token_sha256: String,
}

impl Operators {
    /// Operators from `(name, role, token)`.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, Role, &'a str)>,
    ) -> Result<Self, String> {
        let mut roles = BTreeMap::new();
        let mut pairs = Vec::new();
        for (name, role, token) in entries {
            if roles.insert(name.to_owned(), role).is_some() {
                return Err(format!("operator `{name}` is configured twice"));
            }
            pairs.push((name.to_owned(), token.to_owned()));
        }
        Ok(Self {
            tokens: Credentials::new(pairs)?,
            digests: BTreeMap::new(),
            roles,
        })
    }

    /// Operators from `HUB_OPERATORS=name:role:token,...`.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let mut parts = item.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err("HUB_OPERATORS entries are name:role:token".to_owned());
            };
            entries.push((name, Role::parse(role)?, token));
        }
        Self::new(entries)
    }

    /// Operators from a TOML file of `[[operator]] name, role, token_sha256`.
    pub fn parse_file(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("operators file: {e}"))?;
        let mut operators = Self::default();
        for entry in file.operator {
            let digest: [u8; 32] = hex::decode(entry.token_sha256.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    format!(
                        "operator `{}`: token_sha256 must be 64 hex characters",
                        entry.name
                    )
                })?;
            if operators
                .roles
                .insert(entry.name.clone(), entry.role)
                .is_some()
            {
                return Err(format!("operator `{}` is configured twice", entry.name));
            }
            operators.digests.insert(digest, entry.name);
        }
        Ok(operators)
    }

    /// True when no operator is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// The operator behind a token.
    #[must_use]
    pub fn identify(&self, token: &str) -> Option<OperatorUser> {
        let name = self.tokens.identify(token).map(str::to_owned).or_else(|| {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            self.digests.get(&digest).cloned()
        })?;
        let role = *self.roles.get(&name)?;
        Some(OperatorUser { name, role })
    }

    /// A configured operator by name (a console session names one); `None`
    /// when the operator is no longer configured.
    #[must_use]
    pub fn user(&self, name: &str) -> Option<OperatorUser> {
        let role = *self.roles.get(name)?;
        Some(OperatorUser {
            name: name.to_owned(),
            role,
        })
    }
}

impl OperatorUser {
    /// `Ok` when the operator's role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), OpError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(OpError::Denied {
                role: self.role.as_str(),
                action: action.describe(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_decide_in_one_place() {
        assert!(Role::Viewer.may(Action::View));
        assert!(!Role::Viewer.may(Action::Act));
        assert!(!Role::Viewer.may(Action::Reveal));
        assert!(Role::Operator.may(Action::Act));
        assert!(!Role::Operator.may(Action::Reveal));
        assert!(Role::PrivacyOfficer.may(Action::Reveal));
        assert!(Role::PrivacyOfficer.may(Action::SearchSubject));
        assert!(!Role::PrivacyOfficer.may(Action::Act));
    }

    #[test]
    fn list_and_file_forms_identify_operators() {
        let ops = Operators::parse_list(
            "alice:privacy-officer:token-of-alice-0123456789, bob:viewer:token-of-bob-01234567890",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ops.identify("token-of-alice-0123456789").map(|u| u.role),
            Some(Role::PrivacyOfficer)
        );
        assert_eq!(ops.identify("nope"), None);
        let digest = hex::encode(Sha256::digest(b"token-of-carol-0123456789"));
        let file = format!(
            "[[operator]]\nname = \"carol\"\nrole = \"operator\"\ntoken_sha256 = \"{digest}\"\n"
        );
        let ops = Operators::parse_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ops.identify("token-of-carol-0123456789"),
            Some(OperatorUser {
                name: "carol".to_owned(),
                role: Role::Operator
            })
        );
        assert!(Operators::parse_list("x:admin:token-of-x-0123456789").is_err());
    }
}
