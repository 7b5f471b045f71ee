//! A dead letter's payload as operators may see it: every populated leaf
//! field with its data category from the catalog, and the values only when
//! revealed (privacy officer, audited in `dead_letters.rs`). Masked views
//! say how many values a field holds, never how long they are.

use std::collections::BTreeMap;

use hub_policy::Catalog;
use hub_policy::fieldpath::is_value_message;
use hub_policy::payload::{self, ContentType};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value};

use crate::dead_letters::DeadLetter;

/// Whether values are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Field names and categories only.
    Masked,
    /// With values.
    Revealed,
}

/// One populated leaf field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Path, repeated fields once (`candidate.education.institution`).
    pub path: String,
    /// Data category in the catalog, `unclassified` when it has none.
    pub category: String,
    /// How many values it holds.
    pub count: u32,
    /// The values; empty unless revealed.
    pub values: Vec<String>,
}

/// A payload's fields, or why it could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redacted {
    /// The fields, by path.
    pub fields: Vec<Field>,
    /// Why the payload did not decode (texts from the policy crate carry no
    /// payload values).
    pub decode_error: Option<String>,
}

/// How much of an undecodable payload a reveal shows as text.
const RAW_LIMIT: usize = 64 * 1024;

/// Reads `bytes` as the dead letter's type and content type. Returns the
/// fields and, when revealed and the payload did not decode, the payload as
/// text (it may be exactly what the privacy officer needs to see).
#[must_use]
pub fn redact(
    catalog: &Catalog,
    dead_letter: &DeadLetter,
    bytes: &[u8],
    mode: Mode,
) -> (Redacted, Option<String>) {
    let message_type = dead_letter.key.message_type.as_str();
    let decoded = catalog
        .message_type(message_type)
        .ok_or_else(|| format!("message type `{message_type}` is not in the catalog"))
        .and_then(|mt| {
            let content_type = Some(dead_letter.content_type.as_str()).filter(|c| !c.is_empty());
            ContentType::parse(content_type)
                .and_then(|ct| payload::decode(&mt.schema, ct, bytes))
                .map_err(|e| e.to_string())
        });
    match decoded {
        Ok(message) => {
            let mut values = BTreeMap::new();
            collect(&message, "", mode, &mut values);
            let fields = values
                .into_iter()
                .map(|(path, (count, values))| Field {
                    category: catalog
                        .field_category(message_type, &path)
                        .unwrap_or("unclassified")
                        .to_owned(),
                    path,
                    count,
                    values,
                })
                .collect();
            (
                Redacted {
                    fields,
                    decode_error: None,
                },
                None,
            )
        }
        Err(error) => {
            let raw = (mode == Mode::Revealed).then(|| {
                let cut = &bytes[..bytes.len().min(RAW_LIMIT)];
                String::from_utf8_lossy(cut).into_owned()
            });
            (
                Redacted {
                    fields: Vec::new(),
                    decode_error: Some(error),
                },
                raw,
            )
        }
    }
}

type Leaves = BTreeMap<String, (u32, Vec<String>)>;

fn structured(value: &Value) -> Option<&DynamicMessage> {
    match value {
        Value::Message(m) if !is_value_message(&m.descriptor()) => Some(m),
        _ => None,
    }
}

fn collect(message: &DynamicMessage, prefix: &str, mode: Mode, out: &mut Leaves) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        if let Some(inner) = structured(value) {
            collect(inner, &path, mode, out);
            continue;
        }
        match value {
            Value::List(items) if items.iter().any(|i| structured(i).is_some()) => {
                for inner in items.iter().filter_map(structured) {
                    collect(inner, &path, mode, out);
                }
            }
            Value::List(items) => {
                for item in items {
                    push(out, &path, mode, || render(&field, item));
                }
            }
            Value::Map(map) => {
                for (k, v) in map {
                    push(out, &path, mode, || format!("{k:?}={}", render(&field, v)));
                }
            }
            _ => push(out, &path, mode, || render(&field, value)),
        }
    }
}

fn push(out: &mut Leaves, path: &str, mode: Mode, value: impl FnOnce() -> String) {
    let entry = out.entry(path.to_owned()).or_default();
    entry.0 += 1;
    if mode == Mode::Revealed {
        entry.1.push(value());
    }
}

fn render(field: &FieldDescriptor, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
        Value::Bytes(b) => hex::encode(&b[..b.len().min(256)]),
        Value::EnumNumber(n) => match field.kind() {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned()),
            _ => n.to_string(),
        },
        // Well-known value types (Timestamp and the like): their JSON form.
        Value::Message(m) => match serde_json::to_value(m) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => String::new(),
        },
        Value::List(_) | Value::Map(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_fields_have_categories_and_no_values() {
        let catalog = Catalog::from_toml(include_str!("../../../policy/catalog.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let update = hub_policy::samples::case_update(7, 1);
        let mt = catalog
            .message_type("reintegration.case_update.v1")
            .unwrap_or_else(|| panic!("type"));
        let mut dynamic = DynamicMessage::new(mt.schema.clone());
        dynamic
            .transcode_from(&update)
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_vec(&dynamic).unwrap_or_else(|e| panic!("{e}"));
        let dead_letter = crate::dead_letters::tests::sample("reintegration.case_update.v1");
        let (masked, raw) = redact(&catalog, &dead_letter, &json, Mode::Masked);
        assert!(raw.is_none());
        let bsn = masked
            .fields
            .iter()
            .find(|f| f.path == "employee.bsn")
            .unwrap_or_else(|| panic!("{masked:?}"));
        assert_eq!(bsn.category, "bsn");
        assert!(masked.fields.iter().all(|f| f.values.is_empty()));
        let (revealed, _) = redact(&catalog, &dead_letter, &json, Mode::Revealed);
        let bsn = revealed
            .fields
            .iter()
            .find(|f| f.path == "employee.bsn")
            .unwrap_or_else(|| panic!("{revealed:?}"));
        assert_eq!(bsn.values, [update.employee.unwrap_or_default().bsn]);
    }
}
