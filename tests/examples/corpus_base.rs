//! Writes the valid base samples the hostile-input corpus is derived from
//! (`tests/corpus/base/*.json`): `cargo run -p hub-tests --example corpus_base`,
//! then `python3 tests/corpus/generate.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_policy::samples;
use prost_reflect::DynamicMessage;

fn write<M: prost::Message>(schema: &str, name: &str, message: &M) {
    let descriptor = hub_proto::DESCRIPTOR_POOL
        .get_message_by_name(schema)
        .unwrap();
    let mut dynamic = DynamicMessage::new(descriptor);
    dynamic.transcode_from(message).unwrap();
    let options = prost_reflect::SerializeOptions::new().use_proto_field_name(true);
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut out);
    dynamic
        .serialize_with_options(&mut serializer, &options)
        .unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/base")
        .join(format!("{name}.json"));
    std::fs::write(&path, out).unwrap();
    println!("wrote {}", path.display());
}

fn main() {
    write("hub.wens.v1.HireEvent", "hire", &samples::hire_event(500));
    write(
        "hub.reintegration.v1.CaseUpdate",
        "case",
        &samples::case_update(500, 1),
    );
    write(
        "hub.reintegration.v1.SurveyResponse",
        "survey",
        &samples::survey_response(500),
    );
    write(
        "hub.processor.v1.ProcessorReport",
        "report",
        &samples::processor_report(500, "CASE-500"),
    );
}
