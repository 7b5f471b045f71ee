//! The hostile-input corpus (tests/corpus): every input, fed through AMQP
//! and through gRPC, gets its specific dead-letter reason or status, and
//! nothing else is disturbed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use hub::compose::Component;
use hub::tap::Tap;
use hub_core::amqp::Amqp;
use hub_core::amqp::headers::{get_str, set_str, short_string};
use hub_core::envelope::{self, INGRESS_EXCHANGE};
use hub_tests::amqp::{Ingress, PartyConnection, get_matching, header};
use hub_tests::env::party_token;
use hub_tests::grpc::raw_unary;
use hub_tests::{TestEnv, publish_as};
use prost_reflect::DynamicMessage;
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(60);
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(rename = "type")]
    message_type: String,
    payload: String,
    #[serde(rename = "message_type")]
    type_property: Option<String>,
    user: Option<String>,
    user_id: Option<String>,
    purposes: Option<String>,
    source: Option<String>,
    content_type: Option<String>,
    message_id: Option<String>,
    encoding: Option<String>,
    append_hex: Option<String>,
    raw_hex: Option<String>,
    generate: Option<String>,
    amqp: String,
    grpc: String,
}

/// Who sends a type, for which purposes, through which RPC, by default.
fn defaults(message_type: &str) -> (&'static str, &'static str, &'static str) {
    match message_type {
        "wens.hire.v1" => (
            "wens",
            "appointment_preparation",
            "/hub.wens.v1.HireEventService/SubmitHireEvent",
        ),
        "reintegration.case_update.v1" => (
            "reintegration-tool",
            "outflow_to_work,legal_reintegration_obligation",
            "/hub.reintegration.v1.CaseUpdateService/SubmitCaseUpdate",
        ),
        "reintegration.survey_response.v1" => (
            "reintegration-tool",
            "tool_usage_research",
            "/hub.reintegration.v1.CaseUpdateService/SubmitSurveyResponse",
        ),
        "processor.report.v1" => (
            "robidus",
            "legal_reintegration_obligation",
            "/hub.processor.v1.CaseFeedService/SubmitReport",
        ),
        other => panic!("no defaults for {other}"),
    }
}

fn dates(text: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    text.replace("__SOON__", &(today + chrono::Days::new(10)).to_string())
        .replace(
            "__NEXT_YEAR__",
            &(today + chrono::Days::new(366)).to_string(),
        )
}

fn protobuf_of(env: &TestEnv, message_type: &str, json: &str) -> Vec<u8> {
    let schema = env
        .catalog
        .message_type(message_type)
        .unwrap()
        .schema
        .clone();
    let mut de = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(schema, &mut de)
        .unwrap_or_else(|e| panic!("{message_type}: {e}"));
    prost::Message::encode_to_vec(&message)
}

/// The message bytes of a case: JSON (as written), or protobuf.
fn message_bytes(env: &TestEnv, case: &Case, want_protobuf: bool) -> Vec<u8> {
    if let Some(raw) = &case.raw_hex {
        return hex::decode(raw).unwrap();
    }
    if let Some(generate) = &case.generate {
        let size: usize = generate.strip_prefix("large:").unwrap().parse().unwrap();
        let json = format!(
            "{{\"event_id\":\"big\",\"vacancy_title\":\"{}\"}}",
            "a".repeat(size)
        );
        return if want_protobuf {
            protobuf_of(env, &case.message_type, &json)
        } else {
            json.into_bytes()
        };
    }
    let text = dates(&std::fs::read_to_string(format!("{CORPUS}/{}", case.payload)).unwrap());
    let protobuf = want_protobuf || case.encoding.as_deref() == Some("protobuf");
    let mut bytes = if protobuf {
        protobuf_of(env, &case.message_type, &text)
    } else {
        text.into_bytes()
    };
    if let Some(extra) = &case.append_hex {
        bytes.extend(hex::decode(extra).unwrap());
    }
    bytes
}

fn optional(value: &Option<String>, default: &str) -> Option<String> {
    match value.as_deref() {
        Some("none") => None,
        Some(v) => Some(v.to_owned()),
        None => Some(default.to_owned()),
    }
}

async fn feed_amqp(env: &TestEnv, case: &Case) {
    let (producer, purposes, _) = defaults(&case.message_type);
    let user = case.user.as_deref().unwrap_or(producer);
    let ingress = Ingress {
        message_type: optional(&case.type_property, &case.message_type),
        user_id: optional(&case.user_id, user),
        purposes: optional(&case.purposes, case.purposes.as_deref().unwrap_or(purposes)),
        source: case.source.clone(),
        content_type: optional(&case.content_type, "application/json"),
        message_id: optional(&case.message_id, &uuid::Uuid::new_v4().to_string()),
    };
    let mut properties = ingress.properties();
    // The case name travels as correlation id, to find the dead letter even
    // when the message id is what is missing.
    let mut headers = properties.headers().clone().unwrap_or_default();
    set_str(&mut headers, "x-test-case", case.name.as_str());
    properties = properties
        .with_headers(headers)
        .with_correlation_id(short_string(&case.name));
    let connection = PartyConnection::as_party(env, user).await;
    connection
        .publish(
            INGRESS_EXCHANGE,
            &case.message_type,
            &message_bytes(env, case, false),
            properties,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: the broker refused the publish: {e}", case.name));
    connection.close().await;
}

fn request_body(case: &Case, message: Vec<u8>, purposes: &str) -> Vec<u8> {
    fn field(number: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push((number << 3) | 2);
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(bytes);
    }
    let mut body = Vec::with_capacity(message.len() + 16);
    field(1, &message, &mut body);
    if case.message_type != "wens.hire.v1" && case.purposes.as_deref() != Some("none") {
        for purpose in case.purposes.as_deref().unwrap_or(purposes).split(',') {
            field(2, purpose.as_bytes(), &mut body);
        }
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_hostile_input_gets_its_specific_error_on_both_channels() {
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string(format!("{CORPUS}/cases.toml")).unwrap()).unwrap();
    assert!(
        manifest.case.len() >= 50,
        "the corpus has at least 50 inputs"
    );
    let env = TestEnv::new().await;
    let running = env
        .start(&[Component::Gateway, Component::Router, Component::Feed])
        .await;
    let addr = running.grpc_addr.unwrap();
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let mut tap = Tap::new(&amqp, &env.catalog.recipient_queues())
        .await
        .unwrap();

    // AMQP: every case ends among the dead letters with its reason.
    for case in &manifest.case {
        feed_amqp(&env, case).await;
    }
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for case in &manifest.case {
        let dead = get_matching(&env, "dead.hub.router", WAIT, |m| {
            m.delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str())
                == Some(case.name.as_str())
        })
        .await;
        match dead.map(|d| header(&d, envelope::H_REASON)) {
            Some(Some(reason)) if reason == case.amqp => {}
            other => {
                failures.insert(
                    format!("amqp {}", case.name),
                    format!("expected {}, got {other:?}", case.amqp),
                );
            }
        }
    }

    // gRPC: the same inputs, where they can exist on that channel.
    let mut grpc_cases = 0;
    for case in manifest.case.iter().filter(|c| !c.grpc.starts_with("n/a")) {
        grpc_cases += 1;
        let (producer, purposes, path) = defaults(&case.message_type);
        let token = party_token(case.user.as_deref().unwrap_or(producer));
        let body = request_body(case, message_bytes(&env, case, true), purposes);
        let got = match raw_unary(addr, path, &token, body).await {
            Ok(_) => "OK".to_owned(),
            Err(status) => format!("{:?}", status.code()),
        };
        let expected = case.grpc.replace('_', "").to_lowercase();
        if got.to_lowercase() != expected {
            failures.insert(
                format!("grpc {}", case.name),
                format!("expected {}, got {got}", case.grpc),
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        grpc_cases >= 30,
        "most inputs are fed through gRPC too ({grpc_cases})"
    );

    // Nothing else was disturbed: the first copies to cross any recipient
    // queue are those of two valid events sent now.
    let valid_amqp = publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &hub_policy::samples::hire_event(7_001),
    )
    .await;
    let mut client = hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient::new(
        hub_tests::grpc::channel(addr).await,
    );
    let valid_grpc = client
        .submit_hire_event(hub_tests::grpc::with_token(
            hub_proto::wens::v1::SubmitHireEventRequest {
                event: Some(hub_policy::samples::hire_event(7_002)),
            },
            &party_token("wens"),
        ))
        .await
        .unwrap()
        .into_inner()
        .message_id;
    let mut crossed = Vec::new();
    for _ in 0..2 {
        let copy = tap.next(WAIT).await.expect("the valid events cross");
        crossed.push(
            get_str(copy.properties.headers().as_ref(), envelope::H_INGRESS_ID)
                .unwrap_or_default()
                .to_owned(),
        );
    }
    crossed.sort();
    let mut expected = vec![valid_amqp, valid_grpc];
    expected.sort();
    assert_eq!(crossed, expected, "no hostile input reached a recipient");
    tap.close().await;
    running.stop().await;
    env.cleanup().await;
}
