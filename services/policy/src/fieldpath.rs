//! Field paths (`candidate.address.city`) resolved against proto descriptors.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// How deep a schema may nest before it is treated as a defect.
const MAX_DEPTH: usize = 16;

/// A path of fields from a message type's root, resolved to descriptors.
#[derive(Clone, Debug)]
pub struct FieldPath {
    /// The path as written, without a trailing `.*`.
    pub text: String,
    /// One descriptor per segment.
    pub fields: Vec<FieldDescriptor>,
}

impl FieldPath {
    /// The field numbers along the path.
    #[must_use]
    pub fn numbers(&self) -> Vec<u32> {
        self.fields
            .iter()
            .map(prost_reflect::FieldDescriptor::number)
            .collect()
    }
}

/// True for message types that are values, not structures (`Timestamp`):
/// they are leaves of a schema and are kept or removed as a whole.
#[must_use]
pub fn is_value_message(message: &MessageDescriptor) -> bool {
    message.package_name() == "google.protobuf"
}

/// The message type inside `field`, if the field holds structure (a message
/// that is not a value type).
#[must_use]
pub fn structured_message(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(m) if !is_value_message(&m) && !field.is_map() => Some(m),
        _ => None,
    }
}

/// Resolves `text` (canonical names, `.` separated, optional trailing `.*`)
/// in `schema`.
pub fn resolve(schema: &MessageDescriptor, text: &str) -> Result<FieldPath, String> {
    let trimmed = text.strip_suffix(".*").unwrap_or(text);
    if trimmed.is_empty() {
        return Err("empty field path".to_owned());
    }
    let mut current = schema.clone();
    let mut fields = Vec::new();
    let segments: Vec<&str> = trimmed.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let field = current.get_field_by_name(segment).ok_or_else(|| {
            format!(
                "`{text}`: `{}` has no field `{segment}`",
                current.full_name()
            )
        })?;
        let last = i + 1 == segments.len();
        if !last || text.ends_with(".*") {
            current = structured_message(&field).ok_or_else(|| {
                format!("`{text}`: `{segment}` is not a message, so nothing can be inside it")
            })?;
        }
        fields.push(field);
    }
    Ok(FieldPath {
        text: trimmed.to_owned(),
        fields,
    })
}

/// Every leaf path of `schema`: fields that hold a value rather than a
/// structure, in declaration order.
#[must_use]
pub fn leaves(schema: &MessageDescriptor) -> Vec<String> {
    let mut out = Vec::new();
    collect_leaves(schema, "", 0, &mut out);
    out
}

fn collect_leaves(message: &MessageDescriptor, prefix: &str, depth: usize, out: &mut Vec<String>) {
    for field in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match structured_message(&field) {
            Some(inner) if depth < MAX_DEPTH => collect_leaves(&inner, &path, depth + 1, out),
            _ => out.push(path),
        }
    }
}

/// True when `ancestor` is `path` itself or encloses it.
#[must_use]
pub fn covers(ancestor: &str, path: &str) -> bool {
    path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_proto::DESCRIPTOR_POOL;

    fn hire() -> MessageDescriptor {
        DESCRIPTOR_POOL
            .get_message_by_name("hub.wens.v1.HireEvent")
            .unwrap_or_else(|| panic!("HireEvent in pool"))
    }

    #[test]
    fn resolves_nested_and_wildcard_paths() {
        let path = resolve(&hire(), "candidate.address.city").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path.fields.len(), 3);
        let path = resolve(&hire(), "candidate.address.*").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path.text, "candidate.address");
    }

    #[test]
    fn names_the_missing_segment() {
        let err = resolve(&hire(), "candidate.shoe_size").unwrap_err();
        assert!(err.contains("no field `shoe_size`"), "{err}");
        let err = resolve(&hire(), "candidate.bsn.*").unwrap_err();
        assert!(err.contains("not a message"), "{err}");
    }

    #[test]
    fn timestamps_are_leaves_and_nested_fields_are_expanded() {
        let leaves = leaves(&hire());
        assert!(leaves.contains(&"occurred_at".to_owned()));
        assert!(leaves.contains(&"candidate.address.postal_code".to_owned()));
        assert!(leaves.contains(&"candidate.account.last_login_at".to_owned()));
        assert!(!leaves.contains(&"candidate".to_owned()));
    }

    #[test]
    fn covers_respects_segment_boundaries() {
        assert!(covers("candidate.address", "candidate.address.city"));
        assert!(covers("candidate.address", "candidate.address"));
        assert!(!covers("candidate.add", "candidate.address"));
    }
}
