//! The rules a catalog must satisfy. Each problem is reported with the
//! entry it belongs to, so a reviewer can find it in the file.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::MessageDescriptor;

use crate::catalog::{Context, MessageType, Route};
use crate::fieldpath::{self, FieldPath};
use crate::mask::Mask;

/// Categories the hard rules below refer to.
pub(crate) const REQUIRED_CATEGORIES: [&str; 3] = ["health", "psych_test", "bsn"];

/// The recipient that may never receive psychological test results
/// (Regeling personeelsdossiers art 13.7).
const DOSSIER_RECIPIENT: &str = "dossier";

/// Checks the category assignments of a message type and returns the
/// category of every leaf field. Every leaf must be covered by exactly one
/// assignment (on itself or on an enclosing message field).
pub(crate) fn field_categories(
    ctx: &Context<'_>,
    entry: &str,
    schema: &MessageDescriptor,
    assignments: &BTreeMap<String, String>,
    errors: &mut Vec<String>,
) -> BTreeMap<String, usize> {
    let mut resolved: Vec<(String, usize)> = Vec::new();
    for (path, category) in assignments {
        let path = match fieldpath::resolve(schema, path) {
            Ok(p) => p.text,
            Err(e) => {
                errors.push(format!("{entry}.categories: {e}"));
                continue;
            }
        };
        match ctx.category_index.get(category.as_str()) {
            Some(index) => resolved.push((path, *index)),
            None => errors.push(format!(
                "{entry}.categories: field `{path}` has category `{category}`, which is not defined"
            )),
        }
    }
    let mut out = BTreeMap::new();
    for leaf in fieldpath::leaves(schema) {
        let covering: Vec<&(String, usize)> = resolved
            .iter()
            .filter(|(path, _)| fieldpath::covers(path, &leaf))
            .collect();
        match covering.as_slice() {
            [] => errors.push(format!(
                "{entry}: field `{leaf}` of schema {} has no data category; every field needs one",
                schema.full_name()
            )),
            [(_, index)] => {
                out.insert(leaf, *index);
            }
            many => errors.push(format!(
                "{entry}: field `{leaf}` has more than one category (from {})",
                many.iter()
                    .map(|(p, _)| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    out
}

/// Queue names must be usable and must not collide with the hub's own.
pub(crate) fn queue_name(entry: &str, queue: &str, errors: &mut Vec<String>) {
    let valid_chars = queue
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if queue.is_empty() || queue.len() > 200 || !valid_chars {
        errors.push(format!(
            "{entry}: queue `{queue}` must be 1 to 200 characters of letters, digits, `.`, `-` and `_`"
        ));
    }
    if queue.starts_with("amq.") || queue.starts_with("dead.") || queue.starts_with("hub.") {
        errors.push(format!(
            "{entry}: queue `{queue}` uses a reserved prefix (amq., dead., hub.)"
        ));
    }
}

/// Compiles a route's allowlist into a mask (and the leaves it lets
/// through) and applies the hard rules:
/// no special category data, no psychological tests into the dossier, no
/// BSN without a statutory basis.
pub(crate) fn route_mask(
    ctx: &Context<'_>,
    entry: &str,
    message_type: &MessageType,
    recipient: &str,
    has_statutory_basis: bool,
    fields: &[String],
    errors: &mut Vec<String>,
) -> (Mask, BTreeMap<String, usize>) {
    let mut atoms: Vec<(FieldPath, usize)> = Vec::new();
    let mut seen = BTreeSet::new();
    for text in fields {
        let field = match fieldpath::resolve(&message_type.schema, text) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("{entry}: field {e}"));
                continue;
            }
        };
        for (leaf, category) in &message_type.leaf_categories {
            if !fieldpath::covers(&field.text, leaf) || !seen.insert(leaf.clone()) {
                continue;
            }
            let Some(cat) = ctx.categories.get(*category) else {
                continue;
            };
            if cat.special {
                errors.push(format!(
                    "{entry}: field `{leaf}` has category `{}`, special category data that no route may carry",
                    cat.id
                ));
                continue;
            }
            if cat.id == "psych_test" && recipient == DOSSIER_RECIPIENT {
                errors.push(format!(
                    "{entry}: field `{leaf}` has category `psych_test`, which never reaches the dossier (Regeling art 13.7)"
                ));
                continue;
            }
            if cat.id == "bsn" && !has_statutory_basis {
                errors.push(format!(
                    "{entry}: field `{leaf}` has category `bsn`, but the route records no statutory_basis (Wabb, UAVG art 46)"
                ));
                continue;
            }
            match fieldpath::resolve(&message_type.schema, leaf) {
                Ok(path) => atoms.push((path, *category)),
                Err(e) => errors.push(format!("{entry}: field {e}")),
            }
        }
    }
    let leaves = atoms.iter().map(|(p, c)| (p.text.clone(), *c)).collect();
    (Mask::from_atoms(&atoms), leaves)
}

/// Rules over the set of routes: one route per message type and recipient,
/// and one recipient per queue.
pub(crate) fn route_set_rules(routes: &[Route], errors: &mut Vec<String>) {
    let mut by_type_recipient = BTreeMap::new();
    let mut queue_owner: BTreeMap<&str, &str> = BTreeMap::new();
    for route in routes {
        let key = (route.message_type.as_str(), route.recipient.as_str());
        if let Some(first) = by_type_recipient.insert(key, route.index) {
            errors.push(format!(
                "routes[{}] ({} -> {}): a second route for the same message type and recipient (first is routes[{first}]); merge them",
                route.index, route.message_type, route.recipient
            ));
        }
        match queue_owner.get(route.queue.as_str()) {
            Some(owner) if *owner != route.recipient => errors.push(format!(
                "routes[{}] ({} -> {}): queue `{}` already belongs to recipient `{owner}`",
                route.index, route.message_type, route.recipient, route.queue
            )),
            _ => {
                queue_owner.insert(route.queue.as_str(), route.recipient.as_str());
            }
        }
    }
}
