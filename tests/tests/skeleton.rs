//! Walking skeleton: a WenS hire event reaches the personnel dossier through
//! RabbitMQ, minimised, and bad input is refused precisely.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hub::compose::Component;
use hub::tap::Tap;
use hub_core::amqp::Amqp;
use hub_core::envelope::{self, INGRESS_EXCHANGE};
use hub_policy::samples;
use hub_proto::dossier::v1::GetDossierRequest;
use hub_proto::dossier::v1::dossier_service_client::DossierServiceClient;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_proto::wens::v1::{HireEvent, SubmitHireEventRequest};
use hub_tests::amqp::{PartyConnection, get_matching, header, message_id};
use hub_tests::env::{ADMIN_TOKEN, party_token};
use hub_tests::grpc::{bad_request_fields, channel, with_token};
use hub_tests::{TestEnv, eventually};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

/// Values of the sample that the dossier must never hold.
fn excluded_values(event: &HireEvent) -> Vec<String> {
    let c = event.candidate.clone().unwrap_or_default();
    let mut values = vec![c.selection_notes.clone()];
    for t in &c.psychological_test_results {
        values.extend([t.test_name.clone(), t.interpretation.clone()]);
    }
    for a in &c.assessment_results {
        values.extend([a.assessment_name.clone(), a.assessor_notes.clone()]);
    }
    if let Some(m) = &c.medical_examination {
        values.extend([m.findings.clone(), m.examiner.clone()]);
    }
    if let Some(l) = &c.labour_market_position {
        values.push(l.status.clone());
    }
    if let Some(a) = &c.account {
        values.push(a.username.clone());
    }
    if let Some(d) = &c.device {
        values.extend([d.user_agent.clone(), d.ip_address.clone()]);
    }
    assert!(
        values.iter().all(|v| !v.is_empty()),
        "the sample must carry every excluded kind of data"
    );
    values
}

const EXCLUDED_FIELDS: [&str; 7] = [
    "psychological_test_results",
    "assessment_results",
    "medical_examination",
    "selection_notes",
    "labour_market_position",
    "account",
    "device",
];

async fn submit(
    addr: std::net::SocketAddr,
    event: &HireEvent,
    token: &str,
) -> Result<String, tonic::Status> {
    let mut client = HireEventServiceClient::new(channel(addr).await);
    client
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(event.clone()),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().message_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hire_event_reaches_the_dossier_without_excluded_data() {
    let env = TestEnv::new().await;
    let running = env.start(&Component::ALL).await;
    let addr = running.grpc_addr.unwrap();
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let mut tap = Tap::new(&amqp, &["dossier.onboarding"]).await.unwrap();

    let event = samples::hire_event(11);
    let ingress_id = submit(addr, &event, &party_token("wens")).await.unwrap();

    // What crossed dossier.onboarding.
    let copy = tap
        .next(WAIT)
        .await
        .expect("a copy crossed dossier.onboarding");
    assert_eq!(
        hub_core::amqp::headers::get_str(
            copy.properties.headers().as_ref(),
            envelope::H_INGRESS_ID
        ),
        Some(ingress_id.as_str())
    );
    let json: serde_json::Value = serde_json::from_slice(&copy.data).unwrap();
    let candidate = json.get("candidate").expect("candidate in the copy");
    for field in EXCLUDED_FIELDS {
        assert!(
            candidate.get(field).is_none(),
            "{field} crossed dossier.onboarding"
        );
    }
    let sent = event.candidate.clone().unwrap();
    assert_eq!(
        candidate["bsn"],
        sent.bsn.as_str(),
        "allowed data must arrive"
    );
    let raw = String::from_utf8(copy.data.clone()).unwrap();
    for value in excluded_values(&event) {
        assert!(
            !raw.contains(&value),
            "`{value}` crossed dossier.onboarding"
        );
    }

    // What the dossier stored.
    let number = event.appointment.clone().unwrap().personnel_number;
    let pool = env.pool().await;
    let stored: Vec<String> = eventually("six dossier entries", WAIT, || {
        let pool = pool.clone();
        let number = number.clone();
        async move {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT content::text FROM dossier_entries WHERE personnel_number = $1",
            )
            .bind(&number)
            .fetch_all(&pool)
            .await
            .unwrap();
            (rows.len() == 6).then_some(rows)
        }
    })
    .await;
    let all = stored.join("\n");
    assert!(all.contains(&sent.surname), "the surname is stored");
    for value in excluded_values(&event) {
        assert!(!all.contains(&value), "`{value}` was stored in the dossier");
    }
    for field in EXCLUDED_FIELDS {
        assert!(
            !all.contains(&format!("\"{field}\"")),
            "{field} was stored in the dossier"
        );
    }

    // And DossierService serves it, filed under instroom.
    let mut dossiers = DossierServiceClient::new(channel(addr).await);
    let dossier = dossiers
        .get_dossier(with_token(
            GetDossierRequest {
                personnel_number: number.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(dossier.entries.len(), 6);
    assert!(dossier.entries.iter().all(|e| e.hr_process == "instroom"));
    let mut categories: Vec<&str> = dossier
        .entries
        .iter()
        .map(|e| e.category.as_str())
        .collect();
    categories.sort_unstable();
    assert_eq!(
        categories,
        [
            "art13.1", "art13.10", "art13.3", "art13.6", "art13.7", "art13.8"
        ]
    );

    tap.close().await;
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_gives_one_dossier_and_one_inbox_row() {
    let env = TestEnv::new().await;
    let running = env.start(&Component::ALL).await;
    let addr = running.grpc_addr.unwrap();
    let event = samples::hire_event(12);
    let first = submit(addr, &event, &party_token("wens")).await.unwrap();
    let second = submit(addr, &event, &party_token("wens")).await.unwrap();
    assert_eq!(
        first, second,
        "the same event_id yields the same message_id"
    );

    let pool = env.pool().await;
    let egress_id = envelope::egress_message_id(&first, "dossier.onboarding");
    // Wait until the second delivery was seen and counted as a duplicate.
    eventually("the duplicate to be counted", WAIT, || {
        let pool = pool.clone();
        let egress_id = egress_id.clone();
        async move {
            let duplicates: Option<i32> = sqlx::query_scalar(
                "SELECT duplicates FROM inbox WHERE consumer = 'dossier' AND message_id = $1",
            )
            .bind(&egress_id)
            .fetch_optional(&pool)
            .await
            .unwrap();
            (duplicates == Some(1)).then_some(())
        }
    })
    .await;
    let number = event.appointment.clone().unwrap().personnel_number;
    let dossiers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dossiers WHERE personnel_number = $1")
            .bind(&number)
            .fetch_one(&pool)
            .await
            .unwrap();
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dossier_entries WHERE personnel_number = $1")
            .bind(&number)
            .fetch_one(&pool)
            .await
            .unwrap();
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'dossier'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((dossiers, entries, inbox), (1, 6, 1));

    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

/// Submits `bad` (expecting `code`), then a valid event, and checks that the
/// first message on `hub.ingress` is the valid one: had the bad one been
/// published, it would have come first.
async fn refused_and_nothing_published(
    env: &TestEnv,
    addr: std::net::SocketAddr,
    bad: &HireEvent,
    token: &str,
    code: Code,
) -> tonic::Status {
    let amqp = Amqp::connect(&env.amqp, "test-ingress-tap").await.unwrap();
    let mut tap = Tap::on(&amqp, INGRESS_EXCHANGE, &["#"]).await.unwrap();
    let status = submit(addr, bad, token)
        .await
        .expect_err("the submission is refused");
    assert_eq!(status.code(), code, "{status:?}");
    let good = samples::hire_event(99);
    let good_id = submit(addr, &good, &party_token("wens")).await.unwrap();
    let first = tap.next(WAIT).await.expect("the valid event is published");
    assert_eq!(
        first
            .properties
            .message_id()
            .as_ref()
            .map(ToString::to_string),
        Some(good_id)
    );
    tap.close().await;
    amqp.close().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_bsn_is_invalid_argument_naming_the_field_and_nothing_is_published() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Gateway]).await;
    let mut bad = samples::hire_event(13);
    bad.candidate.as_mut().unwrap().bsn = "123456789".to_owned();
    let status = refused_and_nothing_published(
        &env,
        running.grpc_addr.unwrap(),
        &bad,
        &party_token("wens"),
        Code::InvalidArgument,
    )
    .await;
    assert_eq!(bad_request_fields(&status), ["candidate.bsn"]);
    assert!(
        !status.message().contains("123456789"),
        "the value must not be echoed"
    );
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_unauthenticated_and_nothing_is_published() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Gateway]).await;
    let addr = running.grpc_addr.unwrap();
    let event = samples::hire_event(14);
    refused_and_nothing_published(
        &env,
        addr,
        &event,
        "not-a-valid-token-at-all",
        Code::Unauthenticated,
    )
    .await;

    let mut client = HireEventServiceClient::new(channel(addr).await);
    let status = client
        .submit_hire_event(SubmitHireEventRequest {
            event: Some(event.clone()),
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    // Another party's valid token does not give WenS's rights.
    refused_and_nothing_published(
        &env,
        addr,
        &event,
        &party_token("robidus"),
        Code::PermissionDenied,
    )
    .await;
    running.stop().await;
    env.cleanup().await;
}

/// One AMQP rejection case: what is published and the reason expected.
struct Case {
    name: &'static str,
    connect_as: &'static str,
    message: hub_tests::amqp::Ingress,
    payload: Vec<u8>,
    reason: &'static str,
}

fn hire_json(seed: u32, mutate: impl FnOnce(&mut HireEvent)) -> Vec<u8> {
    let mut event = samples::hire_event(seed);
    mutate(&mut event);
    let schema = hub_proto::DESCRIPTOR_POOL
        .get_message_by_name("hub.wens.v1.HireEvent")
        .unwrap();
    let mut dynamic = prost_reflect::DynamicMessage::new(schema);
    dynamic.transcode_from(&event).unwrap();
    serde_json::to_vec(&dynamic).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_rejections_are_dead_lettered_with_their_reason_in_contract_order() {
    use hub_tests::amqp::Ingress;
    let env = TestEnv::new().await;
    let mut config = env.hub_config();
    config.amqp.max_payload_bytes = 64 * 1024;
    let running = env.start_with(config, &[Component::Router]).await;
    let bad_bsn = |e: &mut HireEvent| e.candidate.as_mut().unwrap().bsn = "123456789".to_owned();
    let cases = vec![
        Case {
            name: "oversized, also of unknown type",
            connect_as: "wens",
            message: Ingress::new("no.such.type", "wens", "appointment_preparation"),
            payload: vec![b' '; 70 * 1024],
            reason: "payload_too_large",
        },
        Case {
            name: "unknown type, also without purposes",
            connect_as: "wens",
            message: Ingress {
                purposes: None,
                ..Ingress::new("no.such.type", "wens", "")
            },
            payload: hire_json(21, |_| {}),
            reason: "unknown_message_type",
        },
        Case {
            name: "hire event from robidus, also with a bad purpose and payload",
            connect_as: "robidus",
            message: Ingress::new("wens.hire.v1", "robidus", "outflow_to_work"),
            payload: hire_json(22, bad_bsn),
            reason: "unauthorised_source",
        },
        Case {
            name: "hire event from reintegration-tool",
            connect_as: "reintegration-tool",
            message: Ingress::new(
                "wens.hire.v1",
                "reintegration-tool",
                "appointment_preparation",
            ),
            payload: hire_json(23, |_| {}),
            reason: "unauthorised_source",
        },
        Case {
            name: "hire event from wens without user_id",
            connect_as: "wens",
            message: Ingress {
                user_id: None,
                ..Ingress::new("wens.hire.v1", "wens", "appointment_preparation")
            },
            payload: hire_json(24, |_| {}),
            reason: "unauthorised_source",
        },
        Case {
            name: "wens forging x-hub-source",
            connect_as: "wens",
            message: Ingress {
                source: Some("wens".to_owned()),
                ..Ingress::new("wens.hire.v1", "wens", "appointment_preparation")
            },
            payload: hire_json(25, |_| {}),
            reason: "unauthorised_source",
        },
        Case {
            name: "wens declaring a purpose the type does not allow, also with a bad payload",
            connect_as: "wens",
            message: Ingress::new(
                "wens.hire.v1",
                "wens",
                "appointment_preparation,recruitment",
            ),
            payload: hire_json(26, bad_bsn),
            reason: "purpose_not_allowed",
        },
        Case {
            name: "wens declaring no purpose",
            connect_as: "wens",
            message: Ingress {
                purposes: None,
                ..Ingress::new("wens.hire.v1", "wens", "")
            },
            payload: hire_json(27, |_| {}),
            reason: "purpose_not_allowed",
        },
        Case {
            name: "wens with an invalid BSN",
            connect_as: "wens",
            message: Ingress::new("wens.hire.v1", "wens", "appointment_preparation"),
            payload: hire_json(28, bad_bsn),
            reason: "invalid_payload",
        },
    ];
    for case in &cases {
        let connection = PartyConnection::as_party(&env, case.connect_as).await;
        connection
            .publish(
                INGRESS_EXCHANGE,
                case.message.message_type.as_deref().unwrap_or("x"),
                &case.payload,
                case.message.properties(),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: publish refused: {e}", case.name));
        connection.close().await;
    }
    for case in &cases {
        let id = case.message.message_id.clone().unwrap();
        let dead = get_matching(&env, "dead.hub.router", WAIT, |m| {
            message_id(m).as_deref() == Some(id.as_str())
        })
        .await
        .unwrap_or_else(|| panic!("{}: not dead-lettered", case.name));
        assert_eq!(
            header(&dead, envelope::H_REASON).as_deref(),
            Some(case.reason),
            "{}",
            case.name
        );
        let detail = header(&dead, envelope::H_DETAIL).unwrap_or_default();
        assert!(!detail.is_empty(), "{}: no detail", case.name);
        assert!(
            !detail.contains("123456789"),
            "{}: the detail leaks the value: {detail}",
            case.name
        );
        assert_eq!(
            header(&dead, envelope::H_ORIGIN_QUEUE).as_deref(),
            Some("hub.router")
        );
        assert_eq!(
            header(&dead, envelope::H_SERVICE).as_deref(),
            Some("router")
        );
    }
    running.stop().await;
    env.cleanup().await;
}
