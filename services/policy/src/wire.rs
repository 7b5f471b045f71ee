//! Reading protobuf wire bytes against a compiled shape of the schema:
//! counting populated leaves, finding fields the schema does not define, and
//! reading a string at a field path. No allocation of decoded messages.

use std::sync::Arc;

use prost_reflect::MessageDescriptor;

use crate::fieldpath::structured_message;

/// Wire types of the protobuf encoding.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// How deep a message may nest before it is refused.
const MAX_DEPTH: usize = 32;

/// Which field numbers a message has, and which of them hold structure.
#[derive(Debug, Default)]
pub struct Shape {
    /// Indexed by field number: `None` for numbers the schema lacks.
    fields: Vec<Option<FieldShape>>,
}

#[derive(Debug)]
struct FieldShape {
    /// The nested shape when the field holds a structured message.
    nested: Option<Arc<Shape>>,
}

impl Shape {
    /// The shape of `message`.
    #[must_use]
    pub fn of(message: &MessageDescriptor) -> Arc<Self> {
        Arc::new(Self::build(message, 0))
    }

    fn build(message: &MessageDescriptor, depth: usize) -> Self {
        let max = message.fields().map(|f| f.number()).max().unwrap_or(0) as usize;
        let mut fields: Vec<Option<FieldShape>> = (0..=max).map(|_| None).collect();
        for field in message.fields() {
            let nested = structured_message(&field)
                .filter(|_| depth < MAX_DEPTH)
                .map(|m| Arc::new(Self::build(&m, depth + 1)));
            fields[field.number() as usize] = Some(FieldShape { nested });
        }
        Self { fields }
    }

    fn get(&self, number: u32) -> Option<&FieldShape> {
        self.fields.get(number as usize).and_then(Option::as_ref)
    }
}

/// A field as it appears on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireField<'a> {
    /// Field number.
    pub number: u32,
    /// The whole field: tag and value.
    pub raw: &'a [u8],
    /// The payload of a length-delimited field.
    pub body: Option<&'a [u8]>,
}

pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

pub(crate) fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Iterates over the fields of one message level. Yields `Err(())` once on
/// malformed input and then stops.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            failed: false,
        }
    }

    fn next_field(&mut self) -> Option<WireField<'a>> {
        let start = self.pos;
        let tag = read_varint(self.buf, &mut self.pos)?;
        let number = u32::try_from(tag >> 3).ok().filter(|n| *n > 0)?;
        let body = match (tag & 7) as u8 {
            VARINT => {
                read_varint(self.buf, &mut self.pos)?;
                None
            }
            FIXED64 => {
                self.pos = self.pos.checked_add(8).filter(|p| *p <= self.buf.len())?;
                None
            }
            FIXED32 => {
                self.pos = self.pos.checked_add(4).filter(|p| *p <= self.buf.len())?;
                None
            }
            LEN => {
                let len = usize::try_from(read_varint(self.buf, &mut self.pos)?).ok()?;
                let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len())?;
                let body = &self.buf[self.pos..end];
                self.pos = end;
                Some(body)
            }
            // Groups (3, 4) are not used by the hub's schemas; others are invalid.
            _ => return None,
        };
        Some(WireField {
            number,
            raw: &self.buf[start..self.pos],
            body,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<WireField<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match self.next_field() {
            Some(field) => Some(Ok(field)),
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

/// How many populated leaf values `buf` holds (each occurrence of a
/// repeated field counts; a timestamp counts once).
#[must_use]
pub fn count_leaves(shape: &Shape, buf: &[u8]) -> usize {
    let mut count = 0;
    for field in Fields::new(buf).flatten() {
        match (
            shape.get(field.number).and_then(|f| f.nested.as_ref()),
            field.body,
        ) {
            (Some(nested), Some(body)) => count += count_leaves(nested, body),
            _ => count += 1,
        }
    }
    count
}

/// The paths (`#7.#2`) of fields the schema does not define, and whether
/// the bytes are malformed.
pub fn unknown_fields(shape: &Shape, buf: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    collect_unknown(shape, buf, "", 0, &mut out)?;
    Ok(out)
}

fn collect_unknown(
    shape: &Shape,
    buf: &[u8],
    prefix: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".to_owned());
    }
    for field in Fields::new(buf) {
        let field = field.map_err(|()| "malformed protobuf".to_owned())?;
        match shape.get(field.number) {
            None => out.push(format!("{prefix}#{}", field.number)),
            Some(FieldShape {
                nested: Some(nested),
            }) => {
                if let Some(body) = field.body {
                    collect_unknown(
                        nested,
                        body,
                        &format!("{prefix}#{}.", field.number),
                        depth + 1,
                        out,
                    )?;
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The last string value at the path of field numbers (proto semantics: the
/// last occurrence of a singular field wins), if present and not empty.
#[must_use]
pub fn get_string<'a>(buf: &'a [u8], path: &[u32]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    let mut found = None;
    for field in Fields::new(buf).flatten().filter(|f| f.number == *first) {
        let body = field.body?;
        found = if rest.is_empty() {
            std::str::from_utf8(body).ok().filter(|s| !s.is_empty())
        } else {
            get_string(body, rest).or(found)
        };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_proto::DESCRIPTOR_POOL;
    use prost::Message;

    fn case_shape() -> Arc<Shape> {
        Shape::of(
            &DESCRIPTOR_POOL
                .get_message_by_name("hub.reintegration.v1.CaseUpdate")
                .unwrap_or_else(|| panic!()),
        )
    }

    #[test]
    fn counts_agree_with_the_dynamic_view() {
        let update = crate::samples::case_update(3, 2);
        let bytes = update.encode_to_vec();
        let mut dynamic = prost_reflect::DynamicMessage::new(
            DESCRIPTOR_POOL
                .get_message_by_name("hub.reintegration.v1.CaseUpdate")
                .unwrap_or_else(|| panic!()),
        );
        dynamic
            .transcode_from(&update)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            count_leaves(&case_shape(), &bytes),
            crate::mask::count_leaves_dynamic(&dynamic)
        );
    }

    #[test]
    fn reads_strings_at_paths_and_finds_unknown_fields() {
        let update = crate::samples::case_update(4, 1);
        let mut bytes = update.encode_to_vec();
        // employee (6) -> bsn (2)
        assert_eq!(
            get_string(&bytes, &[6, 2]),
            update.employee.as_ref().map(|e| e.bsn.as_str())
        );
        assert_eq!(get_string(&bytes, &[2]), Some(update.case_id.as_str()));
        assert_eq!(unknown_fields(&case_shape(), &bytes), Ok(vec![]));
        bytes.extend_from_slice(&[0x98, 0x06, 0x01]);
        assert_eq!(
            unknown_fields(&case_shape(), &bytes),
            Ok(vec!["#99".to_owned()])
        );
        assert!(
            unknown_fields(&case_shape(), &[0x0a, 0x05, 0x01]).is_err(),
            "truncated"
        );
    }
}
