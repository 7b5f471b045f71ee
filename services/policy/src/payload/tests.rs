use chrono::Utc;
use hub_proto::DESCRIPTOR_POOL;
use prost::Message;

use super::*;
use crate::samples;

fn hire_schema() -> MessageDescriptor {
    DESCRIPTOR_POOL
        .get_message_by_name("hub.wens.v1.HireEvent")
        .unwrap_or_else(|| panic!("schema"))
}

fn json_of(event: &hub_proto::wens::v1::HireEvent) -> Vec<u8> {
    let mut dynamic = DynamicMessage::new(hire_schema());
    dynamic
        .transcode_from(event)
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_vec(&dynamic).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_complete_sample_decodes_from_json_and_protobuf_and_validates() {
    let event = samples::hire_event(1);
    let from_json = decode(&hire_schema(), ContentType::Json, &json_of(&event))
        .unwrap_or_else(|e| panic!("{e}"));
    let from_proto = decode(
        &hire_schema(),
        ContentType::Protobuf,
        &event.encode_to_vec(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_json, from_proto);
    validate(Schema::HireEvent, &from_json, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_json_field_is_refused_with_its_name() {
    let err = decode(
        &hire_schema(),
        ContentType::Json,
        br#"{"event_id":"e1","shoe_size":42}"#,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("shoe_size"), "{text}");
}

#[test]
fn unknown_protobuf_field_is_refused_with_its_number() {
    let mut bytes = samples::hire_event(2).encode_to_vec();
    // field 99, varint 1
    bytes.extend_from_slice(&[0x98, 0x06, 0x01]);
    let err = decode(&hire_schema(), ContentType::Protobuf, &bytes).unwrap_err();
    assert!(
        matches!(&err, PayloadError::UnknownFields { paths, .. } if paths == &["#99".to_owned()]),
        "{err}"
    );
}

#[test]
fn trailing_garbage_invalid_utf8_and_deep_nesting_are_decode_errors() {
    for bad in [
        br#"{"event_id":"e1"} trailing"#.to_vec(),
        b"{\"event_id\":\"\xff\xfe\"}".to_vec(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        b"not json".to_vec(),
    ] {
        let err = decode(&hire_schema(), ContentType::Json, &bad).unwrap_err();
        assert!(matches!(err, PayloadError::Decode { .. }), "{err}");
    }
}

#[test]
fn invalid_bsn_future_birth_date_and_missing_fields_are_named() {
    let mut event = samples::hire_event(3);
    let candidate = event
        .candidate
        .as_mut()
        .unwrap_or_else(|| panic!("candidate"));
    candidate.bsn = "123456789".to_owned();
    candidate.birth_date = "2999-01-01".to_owned();
    candidate.surname.clear();
    event.event_id.clear();
    let violations = validate_hire_event(&event, Utc::now());
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    for expected in [
        "candidate.bsn",
        "candidate.birth_date",
        "candidate.surname",
        "event_id",
    ] {
        assert!(fields.contains(&expected), "{expected} not in {fields:?}");
    }
    let text = PayloadError::Invalid(violations).to_string();
    assert!(!text.contains("123456789"), "the value leaked: {text}");
}

#[test]
fn unknown_enum_number_is_refused() {
    let mut event = samples::hire_event(4);
    event
        .appointment
        .as_mut()
        .unwrap_or_else(|| panic!("appointment"))
        .contract_type = 42;
    let violations = validate_hire_event(&event, Utc::now());
    assert!(
        violations
            .iter()
            .any(|v| v.field == "appointment.contract_type"),
        "{violations:?}"
    );
}

#[test]
fn unknown_enum_name_in_json_is_a_decode_error() {
    let err = decode(
        &hire_schema(),
        ContentType::Json,
        br#"{"candidate":{"gender":"GENDER_DRAGON"}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, PayloadError::Decode { .. }), "{err}");
}

#[test]
fn content_types_are_read_with_parameters_and_others_refused() {
    assert_eq!(
        ContentType::parse(Some("application/json; charset=utf-8")).ok(),
        Some(ContentType::Json)
    );
    assert_eq!(
        ContentType::parse(Some("application/x-protobuf")).ok(),
        Some(ContentType::Protobuf)
    );
    assert!(matches!(
        ContentType::parse(Some("text/xml")),
        Err(PayloadError::ContentType(_))
    ));
    assert!(matches!(
        ContentType::parse(None),
        Err(PayloadError::ContentType(_))
    ));
}

#[test]
fn sanitize_removes_values_but_keeps_field_names_and_position() {
    let text = sanitize("invalid type: string \"Jansen\", expected i32 at line 1 column 12345");
    assert_eq!(
        text,
        "invalid type: string \"…\", expected i32 at line 1 column 12345"
    );
    let text = sanitize("invalid value: integer `111222333`, expected a string");
    assert!(!text.contains("111222333"), "{text}");
    let text = sanitize("unknown field `shoe_size`, expected one of ...");
    assert!(text.contains("`shoe_size`"), "{text}");
    let text = sanitize("bad number 0612345678 here");
    assert!(!text.contains("0612345678"), "{text}");
}

#[test]
fn case_update_requires_version_status_and_valid_bsn() {
    let mut update = samples::case_update(1, 1);
    update.case_version = 0;
    update.status = 0;
    update
        .employee
        .as_mut()
        .unwrap_or_else(|| panic!("employee"))
        .bsn = "999999999".to_owned();
    let fields: Vec<String> = validate_case_update(&update, Utc::now())
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["case_version", "status", "employee.bsn"]);
}

#[test]
fn samples_of_every_type_are_valid() {
    let now = Utc::now();
    assert_eq!(validate_case_update(&samples::case_update(7, 3), now), []);
    assert_eq!(
        validate_survey_response(&samples::survey_response(7), now),
        []
    );
    assert_eq!(
        validate_processor_report(&samples::processor_report(7, "CASE-7"), now),
        []
    );
}
