//! Field masks compiled from route allowlists, and the minimiser.
//!
//! Default deny: the minimiser reads the protobuf wire bytes of a message
//! and writes a new message holding only the fields the mask names;
//! everything else is left behind. It never copies the input and removes
//! fields, so a field the catalog does not know about cannot slip through.
//! Working on the wire bytes (field numbers, no decoding) keeps it cheap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use prost_reflect::{
    DynamicMessage, FieldDescriptor, MessageDescriptor, ReflectMessage, SerializeOptions, Value,
};

use crate::fieldpath::{FieldPath, is_value_message, structured_message};
use crate::wire::{self, Fields, Shape};

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

/// What a route lets through, as a tree over the schema's field numbers.
#[derive(Clone, Debug, Default)]
pub struct Mask {
    fields: Vec<MaskField>,
    /// Field number → position in `fields`.
    index: Vec<Option<usize>>,
}

#[derive(Clone, Debug)]
struct MaskField {
    field: FieldDescriptor,
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    /// The field and everything inside it (`shape` to count its leaves).
    Whole {
        categories: CategorySet,
        shape: Option<Arc<Shape>>,
    },
    /// Only what the inner mask names.
    Partial(Mask),
}

/// A minimised copy and what went into it.
#[derive(Debug)]
pub struct Minimised {
    /// The copy, protobuf wire bytes.
    pub bytes: Vec<u8>,
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

    /// A copy of the message in `input` (protobuf wire bytes) with only the
    /// fields of this mask.
    #[must_use]
    pub fn minimise(&self, input: &[u8]) -> Minimised {
        let mut out = Minimised {
            bytes: Vec::with_capacity(input.len()),
            delivered_leaves: 0,
            categories: CategorySet::default(),
        };
        let mut bytes = std::mem::take(&mut out.bytes);
        self.copy(input, &mut bytes, &mut out);
        out.bytes = bytes;
        out
    }

    fn copy(&self, input: &[u8], out: &mut Vec<u8>, stats: &mut Minimised) {
        for field in Fields::new(input).flatten() {
            let Some(position) = self.index.get(field.number as usize).copied().flatten() else {
                continue;
            };
            match &self.fields[position].node {
                Node::Whole { categories, shape } => {
                    out.extend_from_slice(field.raw);
                    stats.delivered_leaves += match (shape, field.body) {
                        (Some(shape), Some(body)) => wire::count_leaves(shape, body),
                        _ => 1,
                    };
                    stats.categories.extend(*categories);
                }
                Node::Partial(inner) => {
                    let Some(body) = field.body else { continue };
                    let mut copy = Vec::with_capacity(body.len());
                    inner.copy(body, &mut copy, stats);
                    if !copy.is_empty() {
                        wire::write_varint((u64::from(field.number) << 3) | 2, out);
                        wire::write_varint(copy.len() as u64, out);
                        out.extend_from_slice(&copy);
                    }
                }
            }
        }
    }

    /// Every category the mask can let through.
    #[must_use]
    pub fn categories(&self) -> CategorySet {
        let mut set = CategorySet::default();
        for f in &self.fields {
            match &f.node {
                Node::Whole { categories, .. } => set.extend(*categories),
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
                Node::Whole { .. } => out.push(path),
                Node::Partial(m) => m.collect_paths(&path, out),
            }
        }
    }
}

/// Serialises a minimised copy (protobuf wire bytes of `schema`) in the
/// route's encoding.
pub fn encode(
    schema: &MessageDescriptor,
    bytes: Vec<u8>,
    encoding: crate::Encoding,
) -> Result<Vec<u8>, String> {
    match encoding {
        crate::Encoding::Protobuf => Ok(bytes),
        crate::Encoding::Json => {
            let message = DynamicMessage::decode(schema.clone(), bytes.as_slice())
                .map_err(|e| format!("re-reading the copy failed: {e}"))?;
            let mut out = Vec::with_capacity(bytes.len() * 2);
            let mut serializer = serde_json::Serializer::new(&mut out);
            let options = SerializeOptions::new().use_proto_field_name(true);
            message
                .serialize_with_options(&mut serializer, &options)
                .map_err(|e| format!("json encoding failed: {e}"))?;
            Ok(out)
        }
    }
}

/// The paths of the populated leaf fields of `message` (repeated fields
/// once, without indexes), e.g. `candidate.address.city`.
#[must_use]
pub fn populated_paths(message: &DynamicMessage) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_populated(message, "", &mut out);
    out
}

fn collect_populated(message: &DynamicMessage, prefix: &str, out: &mut BTreeSet<String>) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        let structured =
            |v: &Value| matches!(v, Value::Message(m) if !is_value_message(&m.descriptor()));
        match value {
            Value::Message(inner) if structured(value) => collect_populated(inner, &path, out),
            Value::List(items) if items.iter().any(structured) => {
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

/// How many populated leaf values `message` holds, counted on the decoded
/// message (the wire count of [`wire::count_leaves`] agrees).
#[must_use]
pub fn count_leaves_dynamic(message: &DynamicMessage) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::Message(m) => count_leaves_dynamic(m),
            Value::List(items) => items.iter().map(value).sum(),
            Value::Map(map) => map.len(),
            _ => 1,
        }
    }
    if is_value_message(&message.descriptor()) {
        return 1;
    }
    message.fields().map(|(_, v)| value(v)).sum()
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
            match &entry.1 {
                BuilderNode::Whole(existing) => merged.extend(*existing),
                BuilderNode::Partial(existing) => merged.extend(existing.categories()),
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
        let fields: Vec<MaskField> = self
            .children
            .into_values()
            .map(|(field, node)| {
                let node = match node {
                    BuilderNode::Whole(categories) => whole(&field, categories),
                    BuilderNode::Partial(b) => collapse(&field, b.build()),
                };
                MaskField { field, node }
            })
            .collect();
        let max = fields.iter().map(|f| f.field.number()).max().unwrap_or(0) as usize;
        let mut index = vec![None; max + 1];
        for (position, f) in fields.iter().enumerate() {
            index[f.field.number() as usize] = Some(position);
        }
        Mask { fields, index }
    }
}

fn whole(field: &FieldDescriptor, categories: CategorySet) -> Node {
    Node::Whole {
        categories,
        shape: structured_message(field).map(|m| Shape::of(&m)),
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
            .all(|f| matches!(f.node, Node::Whole { .. }));
    if complete {
        whole(field, inner.categories())
    } else {
        Node::Partial(inner)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Catalog, samples};

    fn catalog() -> Catalog {
        Catalog::from_toml(include_str!("../../../policy/catalog.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A small deterministic generator, so the test needs no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn minimising_arbitrary_and_mutated_bytes_never_panics_and_is_idempotent() {
        let catalog = catalog();
        let valid = prost::Message::encode_to_vec(&samples::case_update(1, 1));
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..5_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = (rng.next() % 300) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut mutated = valid.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % mutated.len();
                    mutated[at] = rng.next() as u8;
                }
                mutated
            };
            for route in catalog.routes() {
                let once = route.mask.minimise(&input);
                let twice = route.mask.minimise(&once.bytes);
                assert_eq!(
                    once.bytes, twice.bytes,
                    "round {round}, route {}",
                    route.queue
                );
            }
        }
    }

    #[test]
    fn the_copy_holds_exactly_the_allowed_leaves() {
        let catalog = catalog();
        let update = samples::case_update(2, 1);
        let bytes = prost::Message::encode_to_vec(&update);
        let case_type = catalog
            .message_type("reintegration.case_update.v1")
            .unwrap_or_else(|| panic!());
        for route in catalog.routes_for(&case_type.id) {
            let minimised = route.mask.minimise(&bytes);
            let copy = prost_reflect::DynamicMessage::decode(
                case_type.schema.clone(),
                minimised.bytes.as_slice(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let delivered = super::populated_paths(&copy);
            assert!(
                delivered.iter().all(|p| route.leaves.contains_key(p)),
                "{}: {delivered:?}",
                route.queue
            );
            assert_eq!(
                minimised.delivered_leaves,
                super::count_leaves_dynamic(&copy)
            );
        }
    }
}
