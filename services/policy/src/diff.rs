//! `hubctl catalog diff OLD NEW`: per recipient, which fields and categories
//! start or stop flowing. A change that widens what any recipient gets needs
//! a reviewer, so [`CatalogDiff::widens`] drives a non-zero exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::catalog::{Catalog, Route};

/// What changed for one route (message type → recipient).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteChange {
    /// Message type.
    pub message_type: String,
    /// Recipient.
    pub recipient: String,
    /// The route is new.
    pub added: bool,
    /// The route is gone.
    pub removed: bool,
    /// Fields that start flowing, with their category.
    pub fields_added: Vec<(String, String)>,
    /// Fields that stop flowing, with their category.
    pub fields_removed: Vec<(String, String)>,
    /// Categories the recipient starts receiving.
    pub categories_added: Vec<String>,
    /// Categories the recipient stops receiving.
    pub categories_removed: Vec<String>,
    /// Purposes for which the route now also fires.
    pub purposes_added: Vec<String>,
    /// Purposes for which it no longer fires.
    pub purposes_removed: Vec<String>,
    /// Flowing fields whose category changed: path, old, new.
    pub recategorised: Vec<(String, String, String)>,
    /// Other changes (legal basis, statutory basis, encoding, retention, queue).
    pub other: Vec<String>,
}

impl RouteChange {
    /// True when the recipient may get more than before.
    #[must_use]
    pub fn widens(&self) -> bool {
        self.added
            || !self.fields_added.is_empty()
            || !self.purposes_added.is_empty()
            || !self.recategorised.is_empty()
    }

    fn is_empty(&self) -> bool {
        !self.added
            && !self.removed
            && self.fields_added.is_empty()
            && self.fields_removed.is_empty()
            && self.purposes_added.is_empty()
            && self.purposes_removed.is_empty()
            && self.recategorised.is_empty()
            && self.other.is_empty()
    }
}

/// The difference between two catalogs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogDiff {
    /// Per route, in (message type, recipient) order.
    pub routes: Vec<RouteChange>,
    /// Producers that may now send a type: (message type, party).
    pub producers_added: Vec<(String, String)>,
    /// Producers that no longer may.
    pub producers_removed: Vec<(String, String)>,
}

impl CatalogDiff {
    /// True when any recipient may get more than before, or a new party may
    /// send data: the change needs a reviewer.
    #[must_use]
    pub fn widens(&self) -> bool {
        self.routes.iter().any(RouteChange::widens) || !self.producers_added.is_empty()
    }

    /// True when nothing that flows changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.producers_added.is_empty()
            && self.producers_removed.is_empty()
    }
}

fn named_leaves(catalog: &Catalog, route: &Route) -> BTreeMap<String, String> {
    route
        .leaves
        .iter()
        .map(|(path, index)| {
            let category = catalog
                .categories()
                .get(*index)
                .map(|c| c.id.clone())
                .unwrap_or_default();
            (path.clone(), category)
        })
        .collect()
}

fn set_diff<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> Vec<T> {
    a.difference(b).cloned().collect()
}

fn compare(
    old: &Catalog,
    new: &Catalog,
    before: Option<&Route>,
    after: Option<&Route>,
) -> RouteChange {
    let empty = BTreeMap::new();
    let old_leaves = before.map_or_else(|| empty.clone(), |r| named_leaves(old, r));
    let new_leaves = after.map_or_else(|| empty.clone(), |r| named_leaves(new, r));
    let route = after.or(before);
    let mut change = RouteChange {
        message_type: route.map(|r| r.message_type.clone()).unwrap_or_default(),
        recipient: route.map(|r| r.recipient.clone()).unwrap_or_default(),
        added: before.is_none(),
        removed: after.is_none(),
        ..RouteChange::default()
    };
    for (path, category) in &new_leaves {
        match old_leaves.get(path) {
            None => change.fields_added.push((path.clone(), category.clone())),
            Some(old_category) if old_category != category => {
                change
                    .recategorised
                    .push((path.clone(), old_category.clone(), category.clone()));
            }
            Some(_) => {}
        }
    }
    for (path, category) in &old_leaves {
        if !new_leaves.contains_key(path) {
            change.fields_removed.push((path.clone(), category.clone()));
        }
    }
    let old_categories: BTreeSet<String> = old_leaves.values().cloned().collect();
    let new_categories: BTreeSet<String> = new_leaves.values().cloned().collect();
    change.categories_added = set_diff(&new_categories, &old_categories);
    change.categories_removed = set_diff(&old_categories, &new_categories);
    let no_purposes = BTreeSet::new();
    let old_purposes = before.map_or(&no_purposes, |r| &r.purposes);
    let new_purposes = after.map_or(&no_purposes, |r| &r.purposes);
    change.purposes_added = set_diff(new_purposes, old_purposes);
    change.purposes_removed = set_diff(old_purposes, new_purposes);
    if let (Some(b), Some(a)) = (before, after) {
        let mut other = |what: &str, x: String, y: String| {
            if x != y {
                change.other.push(format!("{what}: `{x}` -> `{y}`"));
            }
        };
        other("queue", b.queue.clone(), a.queue.clone());
        other("legal basis", b.legal_basis.clone(), a.legal_basis.clone());
        other(
            "statutory basis",
            b.statutory_basis.clone().unwrap_or_default(),
            a.statutory_basis.clone().unwrap_or_default(),
        );
        other(
            "encoding",
            b.encoding.as_str().to_owned(),
            a.encoding.as_str().to_owned(),
        );
        other(
            "retention",
            crate::duration::format(b.retention),
            crate::duration::format(a.retention),
        );
    }
    change
}

/// Compares two catalogs route by route.
#[must_use]
pub fn diff(old: &Catalog, new: &Catalog) -> CatalogDiff {
    let key = |r: &Route| (r.message_type.clone(), r.recipient.clone());
    let before: BTreeMap<(String, String), &Route> =
        old.routes().iter().map(|r| (key(r), r)).collect();
    let after: BTreeMap<(String, String), &Route> =
        new.routes().iter().map(|r| (key(r), r)).collect();
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let routes = keys
        .into_iter()
        .map(|k| compare(old, new, before.get(k).copied(), after.get(k).copied()))
        .filter(|c| !c.is_empty())
        .collect();
    let producers = |c: &Catalog| -> BTreeSet<(String, String)> {
        c.message_types()
            .flat_map(|m| m.producers.iter().map(|p| (m.id.clone(), p.clone())))
            .collect()
    };
    let (old_producers, new_producers) = (producers(old), producers(new));
    CatalogDiff {
        routes,
        producers_added: set_diff(&new_producers, &old_producers),
        producers_removed: set_diff(&old_producers, &new_producers),
    }
}

impl fmt::Display for CatalogDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no change in what flows to whom");
        }
        for c in &self.routes {
            let state = if c.added {
                " (new route)"
            } else if c.removed {
                " (route removed)"
            } else {
                ""
            };
            writeln!(f, "{} -> {}{state}", c.message_type, c.recipient)?;
            for (path, category) in &c.fields_added {
                writeln!(f, "  + {path} [{category}] starts flowing")?;
            }
            for (path, category) in &c.fields_removed {
                writeln!(f, "  - {path} [{category}] stops flowing")?;
            }
            for (path, old, new) in &c.recategorised {
                writeln!(f, "  ~ {path} changes category {old} -> {new}")?;
            }
            if !c.categories_added.is_empty() {
                writeln!(
                    f,
                    "  categories starting: {}",
                    c.categories_added.join(", ")
                )?;
            }
            if !c.categories_removed.is_empty() {
                writeln!(
                    f,
                    "  categories stopping: {}",
                    c.categories_removed.join(", ")
                )?;
            }
            if !c.purposes_added.is_empty() {
                writeln!(f, "  now also fires for: {}", c.purposes_added.join(", "))?;
            }
            if !c.purposes_removed.is_empty() {
                writeln!(
                    f,
                    "  no longer fires for: {}",
                    c.purposes_removed.join(", ")
                )?;
            }
            for other in &c.other {
                writeln!(f, "  {other}")?;
            }
        }
        for (message_type, party) in &self.producers_added {
            writeln!(f, "{message_type}: `{party}` may now send it")?;
        }
        for (message_type, party) in &self.producers_removed {
            writeln!(f, "{message_type}: `{party}` may no longer send it")?;
        }
        if self.widens() {
            writeln!(
                f,
                "WIDENING: a recipient may get more than before; this change needs the privacy officer's review"
            )?;
        } else {
            writeln!(
                f,
                "narrowing or neutral: no recipient gets more than before"
            )?;
        }
        Ok(())
    }
}
