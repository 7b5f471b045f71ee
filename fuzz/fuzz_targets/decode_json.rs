//! JSON payloads of every message type: decoding and validation never
//! panic, whatever the bytes.
#![no_main]

mod common;

use hub_policy::{ContentType, payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for message_type in common::CATALOG.message_types() {
        if let Ok(wire) = payload::decode_to_wire(&message_type.schema, &message_type.shape, ContentType::Json, data) {
            let _ = payload::validate_wire(message_type.payload_schema, &wire, chrono::Utc::now());
        }
    }
});
