//! Field masks compiled from route allowlists, and the minimiser.
//!
//! Default deny: the minimiser builds a new message and copies into it only
//! the fields the mask names; everything else is left behind. It never
//! clones the input and removes fields, so a field the catalog does not know
//! about can never slip through.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, FieldDescriptor, ReflectMessage, SerializeOptions, Value};

use crate::fieldpath::{FieldPath, is_value_message, structured_message};

/// A set of data categories, as bits indexed by the catalog's category order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Debug)]
pub struct CategorySet(u64);

impl CategorySet {
    /// The most categories a catalog may define.
    pub const CAPACITY: usize = 64;

    /// A set with one category.
    #[must_use]
    pub fn single(index: usize) -> Self {
        debug_assert!(index < Self::CAPACITY);
        Self(1 << index)
    }

    /// Adds every category of `other`.
    pub fn extend(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// True when `index` is in the set.
    #[must_use]
    pub fn contains(self, index: usize) -> bool {
        index < Self::CAPACITY && self.0 & (1 << index) != 0
    }

    /// The indexes in the set, ascending.
    pub fn indexes(self) -> impl Iterator<Item = usize> {
        (0..Self::CAPACITY).filter(move |i| self.contains(*i))
    }

    /// True when nothing is in the set.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What a route lets through, as a tree over the schema's fields.
#[derive(Clone, Debug, Default)]
pub struct Mask {
    fields: Vec<MaskField>,
}

#[derive(Clone, Debug)]
struct MaskField {
    field: FieldDescriptor,
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    /// The field and everything inside it.
    Whole(CategorySet),
    /// Only what the inner mask names.
    Partial(Mask),
}

/// A minimised copy and what went into it.
#[derive(Debug)]
pub struct Minimised {
    /// The copy for the recipient.
    pub message: DynamicMessage,
    /// How many populated leaf values the copy holds.
    pub delivered_leaves: usize,
    /// The categories of the fields the copy holds.
    pub categories: CategorySet,
}

impl Mask {
    /// Builds a mask from atoms: paths that each have one category.
    pub(crate) fn from_atoms(atoms: &[(FieldPath, usize)]) -> Self {
        let mut builder = Builder::default();
        for (path, category) in atoms {
            builder.insert(&path.fields, CategorySet::single(*category));
        }
        builder.build()
    }

    /// A copy of `message` with only the fields of this mask.
    #[must_use]
    pub fn minimise(&self, message: &DynamicMessage) -> Minimised {
        let mut out = DynamicMessage::new(message.descriptor());
        let mut stats = (0usize, CategorySet::default());
        copy_into(self, message, &mut out, &mut stats);
        Minimised {
            message: out,
            delivered_leaves: stats.0,
            categories: stats.1,
        }
    }

    /// Every category the mask can let through.
    #[must_use]
    pub fn categories(&self) -> CategorySet {
        let mut set = CategorySet::default();
        for f in &self.fields {
            match &f.node {
                Node::Whole(c) => set.extend(*c),
                Node::Partial(m) => set.extend(m.categories()),
            }
        }
        set
    }

    /// The paths the mask lets through, most specific where it is partial.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_paths("", &mut out);
        out
    }

    fn collect_paths(&self, prefix: &str, out: &mut Vec<String>) {
        for f in &self.fields {
            let path = if prefix.is_empty() {
                f.field.name().to_owned()
            } else {
                format!("{prefix}.{}", f.field.name())
            };
            match &f.node {
                Node::Whole(_) => out.push(path),
                Node::Partial(m) => m.collect_paths(&path, out),
            }
        }
    }
}

fn copy_into(
    mask: &Mask,
    src: &DynamicMessage,
    dst: &mut DynamicMessage,
    stats: &mut (usize, CategorySet),
) {
    for mf in &mask.fields {
        if !src.has_field(&mf.field) {
            continue;
        }
        let value = src.get_field(&mf.field);
        match &mf.node {
            Node::Whole(categories) => {
                stats.0 += count_value(&value);
                stats.1.extend(*categories);
                dst.set_field(&mf.field, value.into_owned());
            }
            Node::Partial(inner_mask) => match value.as_ref() {
                Value::Message(inner) => {
                    let copy = copy_message(inner_mask, inner, stats);
                    if copy.fields().next().is_some() {
                        dst.set_field(&mf.field, Value::Message(copy));
                    }
                }
                Value::List(items) => {
                    let copies: Vec<Value> = items
                        .iter()
                        .filter_map(Value::as_message)
                        .map(|inner| copy_message(inner_mask, inner, stats))
                        .filter(|copy| copy.fields().next().is_some())
                        .map(Value::Message)
                        .collect();
                    if !copies.is_empty() {
                        dst.set_field(&mf.field, Value::List(copies));
                    }
                }
                // A partial mask is only ever built on a structured field.
                _ => {}
            },
        }
    }
}

fn copy_message(
    mask: &Mask,
    src: &DynamicMessage,
    stats: &mut (usize, CategorySet),
) -> DynamicMessage {
    let mut out = DynamicMessage::new(src.descriptor());
    copy_into(mask, src, &mut out, stats);
    out
}

/// The paths of the populated leaf fields of `message` (repeated fields
/// once, without indexes), e.g. `candidate.address.city`.
#[must_use]
pub fn populated_paths(message: &DynamicMessage) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    collect_populated(message, "", &mut out);
    out
}

fn collect_populated(
    message: &DynamicMessage,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match value {
            Value::Message(inner) if !is_value_message(&inner.descriptor()) => {
                collect_populated(inner, &path, out)
            }
            Value::List(items)
                if items.iter().any(
                    |i| matches!(i, Value::Message(m) if !is_value_message(&m.descriptor())),
                ) =>
            {
                for item in items.iter().filter_map(Value::as_message) {
                    collect_populated(item, &path, out);
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
}

/// How many populated leaf values `message` holds (a repeated field counts
/// each element; a timestamp counts once).
#[must_use]
pub fn count_leaves(message: &DynamicMessage) -> usize {
    if is_value_message(&message.descriptor()) {
        return 1;
    }
    message.fields().map(|(_, v)| count_value(v)).sum()
}

fn count_value(value: &Value) -> usize {
    match value {
        Value::Message(m) => count_leaves(m),
        Value::List(items) => items.iter().map(count_value).sum(),
        Value::Map(map) => map.len(),
        _ => 1,
    }
}

/// Serialises a message for a recipient in the route's encoding.
pub fn encode(message: &DynamicMessage, encoding: crate::Encoding) -> Result<Vec<u8>, String> {
    match encoding {
        crate::Encoding::Protobuf => Ok(prost::Message::encode_to_vec(message)),
        crate::Encoding::Json => {
            let mut out = Vec::with_capacity(1024);
            let mut serializer = serde_json::Serializer::new(&mut out);
            let options = SerializeOptions::new().use_proto_field_name(true);
            message
                .serialize_with_options(&mut serializer, &options)
                .map_err(|e| format!("json encoding failed: {e}"))?;
            Ok(out)
        }
    }
}

#[derive(Default)]
struct Builder {
    children: BTreeMap<u32, (FieldDescriptor, BuilderNode)>,
}

enum BuilderNode {
    Whole(CategorySet),
    Partial(Builder),
}

impl Builder {
    fn insert(&mut self, path: &[FieldDescriptor], categories: CategorySet) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let entry = self
            .children
            .entry(first.number())
            .or_insert_with(|| (first.clone(), BuilderNode::Partial(Builder::default())));
        if rest.is_empty() {
            let mut merged = categories;
            if let BuilderNode::Whole(existing) = &entry.1 {
                merged.extend(*existing);
            } else if let BuilderNode::Partial(existing) = &entry.1 {
                merged.extend(existing.categories());
            }
            entry.1 = BuilderNode::Whole(merged);
            return;
        }
        match &mut entry.1 {
            BuilderNode::Whole(existing) => existing.extend(categories),
            BuilderNode::Partial(inner) => inner.insert(rest, categories),
        }
    }

    fn categories(&self) -> CategorySet {
        let mut set = CategorySet::default();
        for (_, node) in self.children.values() {
            match node {
                BuilderNode::Whole(c) => set.extend(*c),
                BuilderNode::Partial(b) => set.extend(b.categories()),
            }
        }
        set
    }

    fn build(self) -> Mask {
        Mask {
            fields: self
                .children
                .into_values()
                .map(|(field, node)| {
                    let node = match node {
                        BuilderNode::Whole(c) => Node::Whole(c),
                        BuilderNode::Partial(b) => collapse(&field, b.build()),
                    };
                    MaskField { field, node }
                })
                .collect(),
        }
    }
}

/// A partial mask that lets every field of its message through is the same
/// as letting the whole field through, and copying it whole is cheaper.
fn collapse(field: &FieldDescriptor, inner: Mask) -> Node {
    let Some(message) = structured_message(field) else {
        return Node::Partial(inner);
    };
    let complete = inner.fields.len() == message.fields().len()
        && inner
            .fields
            .iter()
            .all(|f| matches!(f.node, Node::Whole(_)));
    if complete {
        Node::Whole(inner.categories())
    } else {
        Node::Partial(inner)
    }
}
