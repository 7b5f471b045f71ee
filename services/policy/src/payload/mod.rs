//! Decoding and validating payloads.
//!
//! A payload is decoded against its schema (proto3 JSON mapping or protobuf
//! binary); unknown fields are refused in both encodings, so a producer cannot
//! smuggle data past the catalog under a field name it does not know. Then a
//! validator per schema checks required fields, the BSN eleven test and the
//! plausibility of dates. Error texts never contain values from the payload.

mod checker;
mod hire;
mod reintegration;
mod report;

use chrono::{DateTime, Utc};
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage, Value};

pub use checker::FieldViolation;
pub use hire::validate as validate_hire_event;
pub use reintegration::{validate_case_update, validate_survey_response};
pub use report::validate as validate_processor_report;

/// The schemas the hub has validators for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// `hub.wens.v1.HireEvent`
    HireEvent,
    /// `hub.reintegration.v1.CaseUpdate`
    CaseUpdate,
    /// `hub.reintegration.v1.SurveyResponse`
    SurveyResponse,
    /// `hub.processor.v1.ProcessorReport`
    ProcessorReport,
}

impl Schema {
    /// The schema of a proto message full name, if the hub can validate it.
    #[must_use]
    pub fn from_full_name(name: &str) -> Option<Self> {
        match name {
            "hub.wens.v1.HireEvent" => Some(Self::HireEvent),
            "hub.reintegration.v1.CaseUpdate" => Some(Self::CaseUpdate),
            "hub.reintegration.v1.SurveyResponse" => Some(Self::SurveyResponse),
            "hub.processor.v1.ProcessorReport" => Some(Self::ProcessorReport),
            _ => None,
        }
    }
}

/// The encodings a producer may use (AMQP `content_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// `application/json`: the proto3 JSON mapping.
    Json,
    /// `application/x-protobuf`: protobuf binary.
    Protobuf,
}

impl ContentType {
    /// Reads an AMQP `content_type`; parameters such as `charset=utf-8` are
    /// allowed for JSON.
    pub fn parse(value: Option<&str>) -> Result<Self, PayloadError> {
        let Some(value) = value else {
            return Err(PayloadError::ContentType("none".to_owned()));
        };
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Self::Json),
            "application/x-protobuf"
            | "application/protobuf"
            | "application/vnd.google.protobuf" => Ok(Self::Protobuf),
            _ => Err(PayloadError::ContentType(sanitize(value))),
        }
    }
}

/// Why a payload was refused (dead-letter reason `invalid_payload`).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The content type is not one the hub reads.
    #[error("unsupported content_type `{0}`; use application/json or application/x-protobuf")]
    ContentType(String),
    /// The bytes do not decode as the schema.
    #[error("payload does not decode as {schema}: {detail}")]
    Decode {
        /// The proto message name.
        schema: String,
        /// What went wrong, without payload values.
        detail: String,
    },
    /// The payload carries fields the schema does not have.
    #[error("payload has fields that {schema} does not define: {}", .paths.join(", "))]
    UnknownFields {
        /// The proto message name.
        schema: String,
        /// Where (field numbers for protobuf).
        paths: Vec<String>,
    },
    /// Fields break the schema's rules.
    #[error("payload is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
}

/// Decodes `bytes` as `schema` and refuses unknown fields.
pub fn decode(
    schema: &MessageDescriptor,
    content_type: ContentType,
    bytes: &[u8],
) -> Result<DynamicMessage, PayloadError> {
    let decode_error = |detail: String| PayloadError::Decode {
        schema: schema.full_name().to_owned(),
        detail,
    };
    match content_type {
        ContentType::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let message = DynamicMessage::deserialize_with_options(
                schema.clone(),
                &mut de,
                &DeserializeOptions::new(),
            )
            .map_err(|e| decode_error(sanitize(&e.to_string())))?;
            de.end()
                .map_err(|e| decode_error(sanitize(&e.to_string())))?;
            Ok(message)
        }
        ContentType::Protobuf => {
            let message = DynamicMessage::decode(schema.clone(), bytes)
                .map_err(|e| decode_error(sanitize(&e.to_string())))?;
            let mut paths = Vec::new();
            unknown_fields(&message, "", &mut paths);
            if paths.is_empty() {
                Ok(message)
            } else {
                Err(PayloadError::UnknownFields {
                    schema: schema.full_name().to_owned(),
                    paths,
                })
            }
        }
    }
}

fn unknown_fields(message: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in message.unknown_fields() {
        out.push(format!("{prefix}#{}", field.number()));
    }
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match value {
            Value::Message(inner) => unknown_fields(inner, &path, out),
            Value::List(items) => {
                for item in items.iter().filter_map(Value::as_message) {
                    unknown_fields(item, &path, out);
                }
            }
            _ => {}
        }
    }
}

/// Decodes `bytes` as `schema` into protobuf wire bytes, the form the
/// minimiser reads: JSON is parsed (unknown fields refused) and encoded;
/// protobuf is checked against `shape` for unknown fields and malformed
/// input and kept as it is.
pub fn decode_to_wire(
    schema: &MessageDescriptor,
    shape: &crate::wire::Shape,
    content_type: ContentType,
    bytes: &[u8],
) -> Result<Vec<u8>, PayloadError> {
    match content_type {
        ContentType::Json => Ok(prost::Message::encode_to_vec(&decode(
            schema,
            content_type,
            bytes,
        )?)),
        ContentType::Protobuf => {
            let paths = crate::wire::unknown_fields(shape, bytes).map_err(|detail| {
                PayloadError::Decode {
                    schema: schema.full_name().to_owned(),
                    detail,
                }
            })?;
            if paths.is_empty() {
                Ok(bytes.to_vec())
            } else {
                Err(PayloadError::UnknownFields {
                    schema: schema.full_name().to_owned(),
                    paths,
                })
            }
        }
    }
}

/// Validates protobuf wire bytes with the rules of their schema.
pub fn validate_wire(schema: Schema, bytes: &[u8], now: DateTime<Utc>) -> Result<(), PayloadError> {
    use hub_proto::{processor::v1 as p, reintegration::v1 as r, wens::v1 as w};
    use prost::Message;
    let decode_error = |name: &str, e: prost::DecodeError| PayloadError::Decode {
        schema: name.to_owned(),
        detail: sanitize(&e.to_string()),
    };
    let violations = match schema {
        Schema::HireEvent => validate_hire_event(
            &w::HireEvent::decode(bytes).map_err(|e| decode_error("hub.wens.v1.HireEvent", e))?,
            now,
        ),
        Schema::CaseUpdate => validate_case_update(
            &r::CaseUpdate::decode(bytes)
                .map_err(|e| decode_error("hub.reintegration.v1.CaseUpdate", e))?,
            now,
        ),
        Schema::SurveyResponse => validate_survey_response(
            &r::SurveyResponse::decode(bytes)
                .map_err(|e| decode_error("hub.reintegration.v1.SurveyResponse", e))?,
            now,
        ),
        Schema::ProcessorReport => validate_processor_report(
            &p::ProcessorReport::decode(bytes)
                .map_err(|e| decode_error("hub.processor.v1.ProcessorReport", e))?,
            now,
        ),
    };
    if violations.is_empty() {
        Ok(())
    } else {
        Err(PayloadError::Invalid(violations))
    }
}

/// Validates a decoded payload with the rules of its schema.
pub fn validate(
    schema: Schema,
    message: &DynamicMessage,
    now: DateTime<Utc>,
) -> Result<(), PayloadError> {
    let transcode_error = |e: prost::DecodeError| PayloadError::Decode {
        schema: message.descriptor().full_name().to_owned(),
        detail: sanitize(&e.to_string()),
    };
    let violations = match schema {
        Schema::HireEvent => {
            validate_hire_event(&message.transcode_to().map_err(transcode_error)?, now)
        }
        Schema::CaseUpdate => {
            validate_case_update(&message.transcode_to().map_err(transcode_error)?, now)
        }
        Schema::SurveyResponse => {
            validate_survey_response(&message.transcode_to().map_err(transcode_error)?, now)
        }
        Schema::ProcessorReport => {
            validate_processor_report(&message.transcode_to().map_err(transcode_error)?, now)
        }
    };
    if violations.is_empty() {
        Ok(())
    } else {
        Err(PayloadError::Invalid(violations))
    }
}

/// Removes payload values from a decoder's message: quoted text, values in
/// backticks that are not field names, and runs of four or more digits
/// outside the position suffix. What is left says what went wrong and where.
#[must_use]
pub fn sanitize(message: &str) -> String {
    let (body, position) = match message.rfind(" at line ") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4 {
            out.push('…');
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        match c {
            '"' => {
                for d in chars.by_ref() {
                    if d == '"' {
                        break;
                    }
                }
                out.push_str("\"…\"");
            }
            '`' => {
                let mut inner = String::new();
                for d in chars.by_ref() {
                    if d == '`' {
                        break;
                    }
                    inner.push(d);
                }
                let is_name = inner.len() <= 64
                    && inner
                        .chars()
                        .next()
                        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                    && inner
                        .chars()
                        .all(|f| f.is_ascii_alphanumeric() || matches!(f, '_' | '.'));
                out.push('`');
                out.push_str(if is_name { &inner } else { "…" });
                out.push('`');
            }
            _ => out.push(c),
        }
    }
    flush(&mut digits, &mut out);
    let mut out: String = out.chars().take(300).collect();
    out.push_str(position);
    out
}

#[cfg(test)]
mod tests;
