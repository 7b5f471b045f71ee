//! The catalog file as written (`policy/catalog.toml`), before validation.
//! Unknown keys are errors, so a typo cannot silently disable a rule.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    pub dead_letter_retention: String,
    #[serde(default)]
    pub activities: BTreeMap<String, ActivityFile>,
    #[serde(default)]
    pub parties: BTreeMap<String, PartyFile>,
    #[serde(default)]
    pub purposes: BTreeMap<String, PurposeFile>,
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryFile>,
    #[serde(default)]
    pub message_types: BTreeMap<String, MessageTypeFile>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityFile {
    pub name: String,
    pub controller: String,
    #[serde(default)]
    pub data_subjects: Vec<String>,
    pub transfer_outside_eu: bool,
    #[serde(default)]
    pub retention: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartyFile {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub external: bool,
    #[serde(default)]
    pub hub_service: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurposeFile {
    pub activity: String,
    pub reference: String,
    pub description: String,
    pub legal_basis: String,
    pub legal_basis_text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CategoryFile {
    pub description: String,
    #[serde(default)]
    pub special: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageTypeFile {
    pub description: String,
    pub schema: String,
    pub activity: String,
    pub producers: Vec<String>,
    pub purposes: Vec<String>,
    #[serde(default)]
    pub subject_bsn: Option<String>,
    #[serde(default)]
    pub subject_employee_id: Option<String>,
    #[serde(default)]
    pub case_key: Option<String>,
    #[serde(default)]
    pub case_version: Option<String>,
    #[serde(default)]
    pub case_owner_check: bool,
    pub categories: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    pub message_type: String,
    pub recipient: String,
    pub queue: String,
    pub purposes: Vec<String>,
    pub legal_basis: String,
    #[serde(default)]
    pub statutory_basis: Option<String>,
    pub encoding: String,
    pub retention: String,
    pub fields: Vec<String>,
}
