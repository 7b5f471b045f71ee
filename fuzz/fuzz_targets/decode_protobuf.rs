//! Protobuf payloads of every message type: the unknown-field scan, the
//! leaf count and validation never panic, whatever the bytes.
#![no_main]

mod common;

use hub_policy::{ContentType, payload, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for message_type in common::CATALOG.message_types() {
        let _ = wire::count_leaves(&message_type.shape, data);
        if let Ok(bytes) = payload::decode_to_wire(&message_type.schema, &message_type.shape, ContentType::Protobuf, data) {
            let _ = payload::validate_wire(message_type.payload_schema, &bytes, chrono::Utc::now());
        }
    }
});
