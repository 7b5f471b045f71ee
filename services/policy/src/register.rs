//! The processing register (verwerkingsregister), generated from the
//! catalog: per activity its purposes, legal bases, data categories,
//! recipients and retention. Because the router enforces the same catalog,
//! the register and the enforcement cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::catalog::Catalog;
use crate::duration;

/// A block of the register.
enum Block {
    Heading(u8, String),
    Fields(Vec<(String, String)>),
    List(Vec<String>),
    Table(Vec<&'static str>, Vec<Vec<String>>),
}

fn human_basis(kind: &str) -> &str {
    match kind {
        "consent" => "consent (toestemming)",
        "contract" => "contract (overeenkomst)",
        "legal_obligation" => "legal obligation (wettelijke verplichting)",
        "vital_interests" => "vital interests (vitaal belang)",
        "public_task" => "public task (algemeen belang)",
        "legitimate_interest" => "legitimate interest (gerechtvaardigd belang)",
        other => other,
    }
}

fn blocks(catalog: &Catalog) -> Vec<Block> {
    let mut out = vec![
        Block::Heading(1, "Processing register (verwerkingsregister)".to_owned()),
        Block::Fields(vec![
            (
                "Generated from".to_owned(),
                "policy/catalog.toml".to_owned(),
            ),
            ("Catalog version".to_owned(), catalog.version().to_owned()),
        ]),
    ];
    for activity in catalog.activities() {
        out.push(Block::Heading(
            2,
            format!("{}: {}", activity.id, activity.name),
        ));
        out.push(Block::Fields(vec![
            ("Controller".to_owned(), activity.controller.clone()),
            (
                "Data subjects".to_owned(),
                activity.data_subjects.join("; "),
            ),
            (
                "Transfer outside the EU".to_owned(),
                if activity.transfer_outside_eu {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
            ),
        ]));

        let purposes: Vec<Vec<String>> = catalog
            .purposes()
            .filter(|p| p.activity == activity.id)
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.reference.clone(),
                    p.description.clone(),
                    human_basis(&p.legal_basis).to_owned(),
                    p.legal_basis_text.clone(),
                ]
            })
            .collect();
        out.push(Block::Heading(3, "Purposes and legal bases".to_owned()));
        out.push(Block::Table(
            vec![
                "purpose",
                "reference",
                "description",
                "legal basis",
                "as the register states it",
            ],
            purposes,
        ));

        let types: Vec<_> = catalog
            .message_types()
            .filter(|m| m.activity == activity.id)
            .collect();
        if !types.is_empty() {
            let mut fields_by_category: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
            for m in &types {
                for (path, index) in &m.leaf_categories {
                    if let Some(category) = catalog.categories().get(*index) {
                        fields_by_category
                            .entry(category.id.as_str())
                            .or_default()
                            .insert(format!("{}: {path}", m.id));
                    }
                }
            }
            let categories: Vec<Vec<String>> = fields_by_category
                .iter()
                .filter_map(|(id, fields)| {
                    let category = catalog.categories().iter().find(|c| c.id == *id)?;
                    Some(vec![
                        category.id.clone(),
                        category.description.clone(),
                        if category.special { "yes" } else { "no" }.to_owned(),
                        fields.iter().cloned().collect::<Vec<_>>().join(", "),
                    ])
                })
                .collect();
            out.push(Block::Heading(3, "Categories of personal data".to_owned()));
            out.push(Block::Table(
                vec!["category", "description", "special (art 9)", "fields"],
                categories,
            ));

            let recipients: Vec<Vec<String>> = catalog
                .routes()
                .iter()
                .filter(|r| types.iter().any(|m| m.id == r.message_type))
                .map(|r| {
                    let party = catalog.party(&r.recipient);
                    let name = party.map_or_else(|| r.recipient.clone(), |p| p.name.clone());
                    let processor = if party.is_some_and(|p| p.external) {
                        " (processor)"
                    } else {
                        ""
                    };
                    let categories: BTreeSet<&str> = r
                        .leaves
                        .values()
                        .filter_map(|i| catalog.categories().get(*i).map(|c| c.id.as_str()))
                        .collect();
                    vec![
                        format!("{name}{processor}"),
                        r.message_type.clone(),
                        r.purposes.iter().cloned().collect::<Vec<_>>().join(", "),
                        categories.into_iter().collect::<Vec<_>>().join(", "),
                        r.legal_basis.clone(),
                        r.statutory_basis
                            .clone()
                            .unwrap_or_else(|| "none: no BSN".to_owned()),
                        duration::format(r.retention),
                    ]
                })
                .collect();
            out.push(Block::Heading(3, "Recipients".to_owned()));
            out.push(Block::Table(
                vec![
                    "recipient",
                    "message type",
                    "purposes",
                    "categories",
                    "legal basis",
                    "statutory basis for the BSN",
                    "retention in the hub",
                ],
                recipients,
            ));
        }

        out.push(Block::Heading(3, "Retention".to_owned()));
        let mut retention = activity.retention.clone();
        if !types.is_empty() {
            retention.push(format!(
                "Dead letters in the hub: at most {}; processing log: 2 years (Selectielijst 9.3.2)",
                duration::format(catalog.dead_letter_retention())
            ));
        }
        out.push(Block::List(retention));
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The register as Markdown.
#[must_use]
pub fn markdown(catalog: &Catalog) -> String {
    let mut out = String::new();
    for block in blocks(catalog) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(usize::from(level)));
            }
            Block::Fields(fields) => {
                for (k, v) in fields {
                    let _ = writeln!(out, "- **{k}:** {v}");
                }
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {item}");
                }
                out.push('\n');
            }
            Block::Table(headers, rows) => {
                let _ = writeln!(out, "| {} |", headers.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
        }
    }
    out
}

/// Escapes text for HTML.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The register as an HTML fragment (no `<html>` wrapper), for the console
/// and for [`html_document`].
#[must_use]
pub fn html_fragment(catalog: &Catalog) -> String {
    let mut out = String::new();
    for block in blocks(catalog) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape_html(&text));
            }
            Block::Fields(fields) => {
                out.push_str("<dl>\n");
                for (k, v) in fields {
                    let _ = writeln!(
                        out,
                        "<dt>{}</dt><dd>{}</dd>",
                        escape_html(&k),
                        escape_html(&v)
                    );
                }
                out.push_str("</dl>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", escape_html(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(headers, rows) => {
                out.push_str("<table>\n<thead><tr>");
                for h in headers {
                    let _ = write!(out, "<th>{}</th>", escape_html(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", escape_html(&cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
    }
    out
}

/// The register as a complete HTML document.
#[must_use]
pub fn html_document(catalog: &Catalog) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Processing register</title>\n\
         <style>body{{font-family:sans-serif;max-width:80rem;margin:2rem auto}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:.3rem;vertical-align:top;text-align:left}}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        html_fragment(catalog)
    )
}
