//! The field report: for one message, every field that was sent, its data
//! category, and which recipient received it. Built from what actually
//! crossed the recipients' queues, not from what the catalog predicts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hub_policy::Catalog;
use hub_policy::mask::populated_paths;
use prost_reflect::DynamicMessage;

/// Where the fields of one message went.
#[derive(Clone, Debug)]
pub struct FieldReport {
    /// What the message was.
    pub title: String,
    /// Recipients, in column order.
    pub recipients: Vec<String>,
    /// One row per sent field: path, category, received per recipient.
    pub rows: Vec<(String, String, Vec<bool>)>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl FieldReport {
    /// Compares the sent message with the copies each recipient received.
    #[must_use]
    pub fn new(
        catalog: &Catalog,
        message_type: &str,
        title: String,
        sent: &DynamicMessage,
        received: &BTreeMap<String, DynamicMessage>,
    ) -> Self {
        let received_paths: Vec<(String, BTreeSet<String>)> = received
            .iter()
            .map(|(recipient, copy)| (recipient.clone(), populated_paths(copy)))
            .collect();
        let rows = populated_paths(sent)
            .into_iter()
            .map(|path| {
                let category = catalog
                    .field_category(message_type, &path)
                    .unwrap_or("unclassified")
                    .to_owned();
                let got = received_paths
                    .iter()
                    .map(|(_, paths)| paths.contains(&path))
                    .collect();
                (path, category, got)
            })
            .collect();
        Self {
            title,
            recipients: received_paths.into_iter().map(|(r, _)| r).collect(),
            rows,
            notes: Vec::new(),
        }
    }

    /// Fields no recipient received.
    #[must_use]
    pub fn removed_everywhere(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, _, got)| !got.iter().any(|g| *g))
            .map(|(p, _, _)| p.as_str())
            .collect()
    }
}

impl fmt::Display for FieldReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|(p, _, _)| p.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let cat_width = self
            .rows
            .iter()
            .map(|(_, c, _)| c.len())
            .max()
            .unwrap_or(8)
            .max(8);
        writeln!(f, "{}", self.title)?;
        write!(f, "  {:width$}  {:cat_width$}", "field", "category")?;
        for r in &self.recipients {
            write!(f, "  {r:>8}")?;
        }
        writeln!(f)?;
        for (path, category, got) in &self.rows {
            write!(f, "  {path:width$}  {category:cat_width$}")?;
            for (g, r) in got.iter().zip(&self.recipients) {
                let width = r.len().max(8);
                write!(f, "  {:>width$}", if *g { "received" } else { "-" })?;
            }
            writeln!(f)?;
        }
        for (i, recipient) in self.recipients.iter().enumerate() {
            let kept = self
                .rows
                .iter()
                .filter(|(_, _, g)| g.get(i).copied().unwrap_or(false))
                .count();
            writeln!(
                f,
                "  {recipient}: received {kept} of {} fields, {} removed",
                self.rows.len(),
                self.rows.len() - kept
            )?;
        }
        let removed = self.removed_everywhere();
        if !removed.is_empty() {
            let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
            for (path, category, _) in &self.rows {
                if removed.contains(&path.as_str()) {
                    *by_category.entry(category.as_str()).or_default() += 1;
                }
            }
            let summary: Vec<String> = by_category
                .iter()
                .map(|(c, n)| format!("{c} ({n})"))
                .collect();
            writeln!(f, "  reached nobody: {}", summary.join(", "))?;
        }
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        Ok(())
    }
}
