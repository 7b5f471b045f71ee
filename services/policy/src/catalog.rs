//! The validated, compiled catalog.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use prost_reflect::MessageDescriptor;
use sha2::{Digest, Sha256};

use crate::fieldpath::{self, FieldPath};
use crate::mask::{CategorySet, Mask};
use crate::model::{CatalogFile, MessageTypeFile, RouteFile};
use crate::payload::Schema;
use crate::{check, duration};

/// Why a catalog could not be loaded. `Invalid` lists every problem found,
/// each naming the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read catalog {path}: {source}")]
    Read {
        /// The path that was read.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape.
    #[error("catalog is not valid: {0}")]
    Syntax(String),
    /// The catalog breaks one or more rules.
    #[error("catalog breaks {} rule(s):\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// How a recipient wants its copy encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Proto3 JSON mapping with the proto field names (`application/json`).
    Json,
    /// Protobuf binary (`application/x-protobuf`).
    Protobuf,
}

impl Encoding {
    /// The AMQP `content_type` of this encoding.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Protobuf => "application/x-protobuf",
        }
    }

    /// The name used in the catalog.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Protobuf => "protobuf",
        }
    }
}

/// An entry of the processing register.
#[derive(Clone, Debug)]
pub struct Activity {
    /// Register id (`D2599`).
    pub id: String,
    /// Name of the processing.
    pub name: String,
    /// The controller (verantwoordelijke).
    pub controller: String,
    /// Who the data is about.
    pub data_subjects: Vec<String>,
    /// Whether data goes outside the EU (never, for both entries).
    pub transfer_outside_eu: bool,
    /// Retention terms as the register states them.
    pub retention: Vec<String>,
}

/// A party that sends or receives messages.
#[derive(Clone, Debug)]
pub struct Party {
    /// Party id, also its AMQP user name.
    pub id: String,
    /// Readable name.
    pub name: String,
    /// What it does towards the hub.
    pub role: String,
    /// An organisation outside Defensie (a processor).
    pub external: bool,
    /// A service of the hub itself: uses the hub's AMQP user.
    pub hub_service: bool,
}

/// The six bases of art 6 AVG (GDPR).
pub const LEGAL_BASES: [&str; 6] = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interest",
];

/// A purpose (doel) with its legal basis (grondslag).
#[derive(Clone, Debug)]
pub struct Purpose {
    /// Purpose id.
    pub id: String,
    /// The register activity it belongs to.
    pub activity: String,
    /// Reference within the register (`D1128/3`).
    pub reference: String,
    /// The purpose as the register states it.
    pub description: String,
    /// One of [`LEGAL_BASES`].
    pub legal_basis: String,
    /// The basis as the register states it.
    pub legal_basis_text: String,
}

/// A data category.
#[derive(Clone, Debug)]
pub struct Category {
    /// Category id.
    pub id: String,
    /// What falls under it.
    pub description: String,
    /// Special category data (art 9 AVG): no route may carry it.
    pub special: bool,
}

/// A message type with its schema, producers, purposes and field categories.
#[derive(Clone, Debug)]
pub struct MessageType {
    /// Type id (`wens.hire.v1`), the AMQP `type` and routing key.
    pub id: String,
    /// What the message means.
    pub description: String,
    /// The proto message.
    pub schema: MessageDescriptor,
    /// Its shape, for reading wire bytes.
    pub shape: std::sync::Arc<crate::wire::Shape>,
    /// Which payload validator applies.
    pub payload_schema: Schema,
    /// The register activity.
    pub activity: String,
    /// Parties allowed to send it.
    pub producers: BTreeSet<String>,
    /// Purposes it may be sent for.
    pub purposes: BTreeSet<String>,
    /// The field holding the subject's BSN.
    pub subject_bsn: Option<FieldPath>,
    /// The field holding the subject's employee id.
    pub subject_employee_id: Option<FieldPath>,
    /// The field identifying a case.
    pub case_key: Option<FieldPath>,
    /// The field holding the case version.
    pub case_version: Option<FieldPath>,
    /// Reject messages about cases never delivered to the producer.
    pub case_owner_check: bool,
    /// Category of every leaf field, by path.
    pub leaf_categories: BTreeMap<String, usize>,
}

/// Where a message type goes, for which purposes, with which fields.
#[derive(Clone, Debug)]
pub struct Route {
    /// Position in the catalog file (for messages).
    pub index: usize,
    /// The message type.
    pub message_type: String,
    /// The receiving party.
    pub recipient: String,
    /// The queue the copy goes to (routing key on `hub.egress`).
    pub queue: String,
    /// The route fires when any of these was declared.
    pub purposes: BTreeSet<String>,
    /// The basis of the disclosure.
    pub legal_basis: String,
    /// The statute that allows the BSN on this route, if any.
    pub statutory_basis: Option<String>,
    /// Encoding of the copy.
    pub encoding: Encoding,
    /// How long a copy may wait in the queue (AMQP expiration).
    pub retention: Duration,
    /// The allowlist as written.
    pub fields: Vec<String>,
    /// Every leaf field the route lets through, with its category index.
    pub leaves: BTreeMap<String, usize>,
    /// The compiled allowlist.
    pub mask: Mask,
}

/// The validated catalog. Cheap to share behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Catalog {
    version: String,
    dead_letter_retention: Duration,
    activities: BTreeMap<String, Activity>,
    parties: BTreeMap<String, Party>,
    purposes: BTreeMap<String, Purpose>,
    categories: Vec<Category>,
    message_types: BTreeMap<String, MessageType>,
    routes: Vec<Route>,
}

impl Catalog {
    /// Reads and validates a catalog file.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Validates a catalog given as TOML text.
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError::Syntax(e.to_string()))?;
        let version = hex::encode(Sha256::digest(text.as_bytes()));
        compile(file, version)
    }

    /// A hash of the catalog text; recorded with every delivery.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How long dead letters that belong to no route are kept.
    #[must_use]
    pub fn dead_letter_retention(&self) -> Duration {
        self.dead_letter_retention
    }

    /// A message type by id.
    #[must_use]
    pub fn message_type(&self, id: &str) -> Option<&MessageType> {
        self.message_types.get(id)
    }

    /// All message types, by id.
    pub fn message_types(&self) -> impl Iterator<Item = &MessageType> {
        self.message_types.values()
    }

    /// The routes of a message type, in catalog order.
    pub fn routes_for<'a>(&'a self, message_type: &'a str) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes
            .iter()
            .filter(move |r| r.message_type == message_type)
    }

    /// All routes, in catalog order.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// A purpose by id.
    #[must_use]
    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.get(id)
    }

    /// All purposes, by id.
    pub fn purposes(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.values()
    }

    /// A party by id.
    #[must_use]
    pub fn party(&self, id: &str) -> Option<&Party> {
        self.parties.get(id)
    }

    /// All parties, by id.
    pub fn parties(&self) -> impl Iterator<Item = &Party> {
        self.parties.values()
    }

    /// An activity by id.
    #[must_use]
    pub fn activity(&self, id: &str) -> Option<&Activity> {
        self.activities.get(id)
    }

    /// All activities, by id.
    pub fn activities(&self) -> impl Iterator<Item = &Activity> {
        self.activities.values()
    }

    /// All categories, in index order.
    #[must_use]
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// Category ids of a set, in index order.
    #[must_use]
    pub fn category_names(&self, set: CategorySet) -> Vec<&str> {
        set.indexes()
            .filter_map(|i| self.categories.get(i).map(|c| c.id.as_str()))
            .collect()
    }

    /// The recipient queues of all routes, sorted and without repeats.
    #[must_use]
    pub fn recipient_queues(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.routes.iter().map(|r| r.queue.as_str()).collect();
        set.into_iter().collect()
    }

    /// The queues a party may read: the queues of the routes it receives.
    #[must_use]
    pub fn queues_of(&self, party: &str) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .routes
            .iter()
            .filter(|r| r.recipient == party)
            .map(|r| r.queue.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// True when the party produces at least one message type.
    #[must_use]
    pub fn is_producer(&self, party: &str) -> bool {
        self.message_types
            .values()
            .any(|m| m.producers.contains(party))
    }

    /// Category of a leaf field of a message type.
    #[must_use]
    pub fn field_category(&self, message_type: &str, path: &str) -> Option<&str> {
        let index = *self
            .message_types
            .get(message_type)?
            .leaf_categories
            .get(path)?;
        self.categories.get(index).map(|c| c.id.as_str())
    }
}

fn compile(file: CatalogFile, version: String) -> Result<Catalog, CatalogError> {
    let mut errors = Vec::new();

    let dead_letter_retention = duration::parse(&file.dead_letter_retention).unwrap_or_else(|e| {
        errors.push(format!("dead_letter_retention: {e}"));
        Duration::from_secs(14 * 86_400)
    });

    let activities: BTreeMap<String, Activity> = file
        .activities
        .into_iter()
        .map(|(id, a)| {
            let activity = Activity {
                id: id.clone(),
                name: a.name,
                controller: a.controller,
                data_subjects: a.data_subjects,
                transfer_outside_eu: a.transfer_outside_eu,
                retention: a.retention,
            };
            if activity.transfer_outside_eu {
                errors.push(format!(
                    "activities.{id}: transfer_outside_eu = true, but no transfer outside the EU is allowed (both register entries)"
                ));
            }
            (id, activity)
        })
        .collect();

    let parties: BTreeMap<String, Party> = file
        .parties
        .into_iter()
        .map(|(id, p)| {
            let party = Party {
                id: id.clone(),
                name: p.name,
                role: p.role,
                external: p.external,
                hub_service: p.hub_service,
            };
            (id, party)
        })
        .collect();

    let mut purposes = BTreeMap::new();
    for (id, p) in file.purposes {
        if !activities.contains_key(&p.activity) {
            errors.push(format!(
                "purposes.{id}: activity `{}` is not defined",
                p.activity
            ));
        }
        if !LEGAL_BASES.contains(&p.legal_basis.as_str()) {
            errors.push(format!(
                "purposes.{id}: legal_basis `{}` is not one of {}",
                p.legal_basis,
                LEGAL_BASES.join(", ")
            ));
        }
        purposes.insert(
            id.clone(),
            Purpose {
                id,
                activity: p.activity,
                reference: p.reference,
                description: p.description,
                legal_basis: p.legal_basis,
                legal_basis_text: p.legal_basis_text,
            },
        );
    }

    if file.categories.len() > CategorySet::CAPACITY {
        errors.push(format!(
            "categories: at most {} are supported",
            CategorySet::CAPACITY
        ));
    }
    let categories: Vec<Category> = file
        .categories
        .into_iter()
        .map(|(id, c)| Category {
            id,
            description: c.description,
            special: c.special,
        })
        .collect();
    let category_index: BTreeMap<&str, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    for required in check::REQUIRED_CATEGORIES {
        if !category_index.contains_key(required) {
            errors.push(format!(
                "categories: `{required}` must be defined (the hub's rules refer to it)"
            ));
        }
    }

    let ctx = Context {
        activities: &activities,
        parties: &parties,
        purposes: &purposes,
        categories: &categories,
        category_index: &category_index,
    };

    let mut message_types = BTreeMap::new();
    for (id, m) in file.message_types {
        if let Some(compiled) = compile_message_type(&ctx, &id, m, &mut errors) {
            message_types.insert(id, compiled);
        }
    }

    let mut routes = Vec::new();
    for (index, r) in file.routes.into_iter().enumerate() {
        if let Some(route) = compile_route(&ctx, &message_types, index, r, &mut errors) {
            routes.push(route);
        }
    }
    check::route_set_rules(&routes, &mut errors);

    if errors.is_empty() {
        Ok(Catalog {
            version,
            dead_letter_retention,
            activities,
            parties,
            purposes,
            categories,
            message_types,
            routes,
        })
    } else {
        Err(CatalogError::Invalid(errors))
    }
}

pub(crate) struct Context<'a> {
    pub activities: &'a BTreeMap<String, Activity>,
    pub parties: &'a BTreeMap<String, Party>,
    pub purposes: &'a BTreeMap<String, Purpose>,
    pub categories: &'a [Category],
    pub category_index: &'a BTreeMap<&'a str, usize>,
}

fn compile_message_type(
    ctx: &Context<'_>,
    id: &str,
    m: MessageTypeFile,
    errors: &mut Vec<String>,
) -> Option<MessageType> {
    let entry = format!("message_types.\"{id}\"");
    let Some(schema) = hub_proto::DESCRIPTOR_POOL.get_message_by_name(&m.schema) else {
        errors.push(format!(
            "{entry}: schema `{}` is not a message of the hub's protos",
            m.schema
        ));
        return None;
    };
    let Some(payload_schema) = Schema::from_full_name(&m.schema) else {
        errors.push(format!(
            "{entry}: schema `{}` has no payload validator in the hub; add one before routing it",
            m.schema
        ));
        return None;
    };
    if !ctx.activities.contains_key(&m.activity) {
        errors.push(format!("{entry}: activity `{}` is not defined", m.activity));
    }
    if m.producers.is_empty() {
        errors.push(format!("{entry}: producers is empty; nobody could send it"));
    }
    for producer in &m.producers {
        if !ctx.parties.contains_key(producer) {
            errors.push(format!(
                "{entry}: producer `{producer}` is not a defined party"
            ));
        }
    }
    if m.purposes.is_empty() {
        errors.push(format!("{entry}: purposes is empty"));
    }
    for purpose in &m.purposes {
        match ctx.purposes.get(purpose) {
            None => errors.push(format!("{entry}: purpose `{purpose}` is not defined")),
            Some(p) if p.activity != m.activity => errors.push(format!(
                "{entry}: purpose `{purpose}` belongs to activity {}, not to the type's activity {}",
                p.activity, m.activity
            )),
            Some(_) => {}
        }
    }
    let leaf_categories = check::field_categories(ctx, &entry, &schema, &m.categories, errors);
    let resolve_leaf = |name: &str, value: &Option<String>, errors: &mut Vec<String>| {
        value
            .as_ref()
            .and_then(|text| match fieldpath::resolve(&schema, text) {
                Ok(path) if fieldpath::structured_message(path.fields.last()?).is_none() => {
                    Some(path)
                }
                Ok(_) => {
                    errors.push(format!(
                        "{entry}: {name} `{text}` must be a single value, not a message"
                    ));
                    None
                }
                Err(e) => {
                    errors.push(format!("{entry}: {name} {e}"));
                    None
                }
            })
    };
    let subject_bsn = resolve_leaf("subject_bsn", &m.subject_bsn, errors);
    let subject_employee_id = resolve_leaf("subject_employee_id", &m.subject_employee_id, errors);
    let case_key = resolve_leaf("case_key", &m.case_key, errors);
    let case_version = resolve_leaf("case_version", &m.case_version, errors);
    if m.case_owner_check && case_key.is_none() {
        errors.push(format!("{entry}: case_owner_check needs a case_key"));
    }
    Some(MessageType {
        id: id.to_owned(),
        description: m.description,
        shape: crate::wire::Shape::of(&schema),
        schema,
        payload_schema,
        activity: m.activity,
        producers: m.producers.into_iter().collect(),
        purposes: m.purposes.into_iter().collect(),
        subject_bsn,
        subject_employee_id,
        case_key,
        case_version,
        case_owner_check: m.case_owner_check,
        leaf_categories,
    })
}

fn compile_route(
    ctx: &Context<'_>,
    message_types: &BTreeMap<String, MessageType>,
    index: usize,
    r: RouteFile,
    errors: &mut Vec<String>,
) -> Option<Route> {
    let entry = format!("routes[{index}] ({} -> {})", r.message_type, r.recipient);
    let Some(message_type) = message_types.get(&r.message_type) else {
        errors.push(format!(
            "{entry}: message type `{}` is not defined",
            r.message_type
        ));
        return None;
    };
    if !ctx.parties.contains_key(&r.recipient) {
        errors.push(format!(
            "{entry}: recipient `{}` is not a defined party",
            r.recipient
        ));
    }
    check::queue_name(&entry, &r.queue, errors);
    if r.purposes.is_empty() {
        errors.push(format!(
            "{entry}: purposes is empty; the route could never fire"
        ));
    }
    for purpose in &r.purposes {
        if !ctx.purposes.contains_key(purpose) {
            errors.push(format!("{entry}: purpose `{purpose}` is not defined"));
        } else if !message_type.purposes.contains(purpose) {
            errors.push(format!(
                "{entry}: purpose `{purpose}` is not allowed for message type {}",
                message_type.id
            ));
        }
    }
    let encoding = match r.encoding.as_str() {
        "json" => Encoding::Json,
        "protobuf" => Encoding::Protobuf,
        other => {
            errors.push(format!(
                "{entry}: encoding `{other}` is not json or protobuf"
            ));
            Encoding::Json
        }
    };
    let retention = duration::parse(&r.retention).unwrap_or_else(|e| {
        errors.push(format!("{entry}: retention {e}"));
        Duration::from_secs(86_400)
    });
    if r.fields.is_empty() {
        errors.push(format!("{entry}: fields is empty"));
    }
    let statutory_basis = r.statutory_basis.filter(|s| !s.trim().is_empty());
    let (mask, leaves) = check::route_mask(
        ctx,
        &entry,
        message_type,
        &r.recipient,
        statutory_basis.is_some(),
        &r.fields,
        errors,
    );
    Some(Route {
        index,
        message_type: r.message_type,
        recipient: r.recipient,
        queue: r.queue,
        purposes: r.purposes.into_iter().collect(),
        legal_basis: r.legal_basis,
        statutory_basis,
        encoding,
        retention,
        fields: r.fields,
        leaves,
        mask,
    })
}
