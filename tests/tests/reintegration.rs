//! Re-integration sharing with Robidus and Future Smart: minimised copies,
//! least privilege on the broker, the gRPC case feed, reports back, ordering
//! by case version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt;
use hub::compose::Component;
use hub_core::envelope::{self, EGRESS_EXCHANGE, INGRESS_EXCHANGE};
use hub_policy::samples;
use hub_proto::processor::v1::case_feed_service_client::CaseFeedServiceClient;
use hub_proto::processor::v1::subscribe_response::Body;
use hub_proto::processor::v1::{
    AckRequest, SubmitReportRequest, SubscribeRequest, SubscribeResponse,
};
use hub_proto::reintegration::v1::SubmitCaseUpdateRequest;
use hub_proto::reintegration::v1::case_update_service_client::CaseUpdateServiceClient;
use hub_tests::amqp::{Ingress, PartyConnection, get_matching, header, message_id};
use hub_tests::env::party_token;
use hub_tests::grpc::{channel, with_token};
use hub_tests::{TestEnv, publish_as, to_json};
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);
const CASE: &str = "reintegration.case_update.v1";
const BOTH: &str = "outflow_to_work,legal_reintegration_obligation";

/// Consumes `queue` as `party` (its own AMQP user) until `n` messages came;
/// returns the JSON bodies.
async fn consume_as(env: &TestEnv, party: &str, queue: &str, n: usize) -> Vec<serde_json::Value> {
    let connection = PartyConnection::as_party(env, party).await;
    let mut consumer = connection
        .channel
        .basic_consume(
            queue.into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{party} consuming {queue}: {e}"));
    let mut out = Vec::new();
    while out.len() < n {
        let delivery = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        assert_eq!(
            delivery
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str()),
            Some("application/json")
        );
        out.push(serde_json::from_slice(&delivery.data).unwrap());
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .unwrap();
    }
    connection.close().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_update_over_grpc_reaches_each_processor_with_only_its_fields() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Gateway, Component::Router]).await;
    let mut client = CaseUpdateServiceClient::new(channel(running.grpc_addr.unwrap()).await);
    let update = samples::case_update(61, 1);
    client
        .submit_case_update(with_token(
            SubmitCaseUpdateRequest {
                update: Some(update.clone()),
                purposes: BOTH.split(',').map(str::to_owned).collect(),
            },
            &party_token("reintegration-tool"),
        ))
        .await
        .unwrap();
    // Purposes are required for a type that allows several.
    let status = client
        .submit_case_update(with_token(
            SubmitCaseUpdateRequest {
                update: Some(update.clone()),
                purposes: vec![],
            },
            &party_token("reintegration-tool"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let robidus = consume_as(&env, "robidus", "processor.robidus", 1)
        .await
        .remove(0);
    let future_smart = consume_as(&env, "future-smart", "processor.future-smart", 1)
        .await
        .remove(0);
    let employee = update.employee.clone().unwrap();
    assert_eq!(robidus["employee"]["bsn"], employee.bsn.as_str());
    assert!(
        robidus.get("absence").is_some()
            && robidus.get("benefits").is_some()
            && robidus.get("poortwachter").is_some()
    );
    assert!(
        future_smart["employee"].get("bsn").is_none(),
        "no BSN for Future Smart"
    );
    assert!(future_smart["employee"].get("address").is_none());
    for absent in ["absence", "benefits", "poortwachter", "medical"] {
        assert!(
            future_smart.get(absent).is_none(),
            "{absent} reached Future Smart"
        );
    }
    for copy in [&robidus, &future_smart] {
        let text = copy.to_string();
        assert!(copy.get("medical").is_none());
        for value in [
            "SYNTHETISCHE-DIAGNOSE",
            "SYNTHETISCH-MGO",
            "SYNTHETISCHE-MEDISCHE-NOTITIE",
        ] {
            assert!(!text.contains(value), "medical data crossed: {value}");
        }
    }
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_enforces_least_privilege_for_every_party() {
    let env = TestEnv::new().await;
    // Robidus cannot read Future Smart's queue.
    let robidus = PartyConnection::as_party(&env, "robidus").await;
    let refused = robidus
        .channel
        .basic_consume(
            "processor.future-smart".into(),
            "peek".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("robidus read future-smart's queue");
    assert!(refused.to_string().contains("ACCESS_REFUSED"), "{refused}");
    robidus.close().await;

    // WenS cannot write hub.egress.
    let wens = PartyConnection::as_party(&env, "wens").await;
    let result = wens
        .publish(
            EGRESS_EXCHANGE,
            "dossier.onboarding",
            b"{}",
            Ingress::new("wens.hire.v1", "wens", "appointment_preparation").properties(),
        )
        .await;
    assert!(
        result.as_ref().is_err_and(|e| e.contains("ACCESS_REFUSED")),
        "{result:?}"
    );
    wens.close().await;

    // Robidus cannot pose as WenS: the broker checks user_id.
    let robidus = PartyConnection::as_party(&env, "robidus").await;
    let forged = Ingress::new("wens.hire.v1", "wens", "appointment_preparation");
    let result = robidus
        .publish(INGRESS_EXCHANGE, "wens.hire.v1", b"{}", forged.properties())
        .await;
    assert!(
        result
            .as_ref()
            .is_err_and(|e| e.contains("PRECONDITION_FAILED")),
        "{result:?}"
    );
    robidus.close().await;

    // Provisioning again changes nothing and fails on nothing.
    env.provision().await;
    // No party user has a tag (no impersonator, no management access).
    for party in ["wens", "reintegration-tool", "robidus", "future-smart"] {
        assert_eq!(
            env.api.user_tags(party).await.unwrap().as_deref(),
            Some(""),
            "{party}"
        );
    }
    env.cleanup().await;
}

async fn feed(addr: std::net::SocketAddr) -> CaseFeedServiceClient<tonic::transport::Channel> {
    CaseFeedServiceClient::new(channel(addr).await)
}

async fn next(stream: &mut tonic::Streaming<SubscribeResponse>) -> SubscribeResponse {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a message on the feed")
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_streams_only_the_callers_queue_and_redelivers_what_was_not_acked() {
    // One message at a time in the router, so the queue order is the
    // publishing order.
    let env = TestEnv::with(hub_tests::env::CATALOG, |amqp| amqp.prefetch = 1).await;
    let running = env.start(&[Component::Router, Component::Feed]).await;
    let addr = running.grpc_addr.unwrap();
    let first = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        BOTH,
        &samples::case_update(71, 1),
    )
    .await;
    let second = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        BOTH,
        &samples::case_update(72, 1),
    )
    .await;
    let fs_first = envelope::egress_message_id(&first, "processor.future-smart");
    let fs_second = envelope::egress_message_id(&second, "processor.future-smart");

    // Without credentials: UNAUTHENTICATED.
    let status = feed(addr)
        .await
        .subscribe(SubscribeRequest { max_in_flight: 10 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // Future Smart receives, acks the first, and leaves the second unacked.
    let token = party_token("future-smart");
    let mut client = feed(addr).await;
    let mut stream = client
        .subscribe(with_token(SubscribeRequest { max_in_flight: 10 }, &token))
        .await
        .unwrap()
        .into_inner();
    let a = next(&mut stream).await;
    let b = next(&mut stream).await;
    assert_eq!(
        [a.message_id.as_str(), b.message_id.as_str()],
        [fs_first.as_str(), fs_second.as_str()],
        "queue order"
    );
    let Some(Body::CaseUpdate(update)) = &a.body else {
        panic!("a typed case update")
    };
    assert!(
        update.employee.as_ref().unwrap().bsn.is_empty(),
        "no BSN on Future Smart's feed"
    );
    assert_eq!(a.purposes, ["outflow_to_work"]);
    assert!(!a.redelivered);
    client
        .ack(with_token(
            AckRequest {
                message_id: a.message_id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    // Robidus cannot ack Future Smart's message.
    let status = client
        .ack(with_token(
            AckRequest {
                message_id: b.message_id.clone(),
            },
            &party_token("robidus"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    drop(stream);
    drop(client);

    // The unacked one comes again on the next subscription, and only it.
    let mut client = feed(addr).await;
    let mut stream = client
        .subscribe(with_token(SubscribeRequest { max_in_flight: 10 }, &token))
        .await
        .unwrap()
        .into_inner();
    let again = next(&mut stream).await;
    assert_eq!(again.message_id, fs_second);
    assert!(again.redelivered);
    client
        .ack(with_token(
            AckRequest {
                message_id: again.message_id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    let status = client
        .ack(with_token(
            AckRequest {
                message_id: again.message_id,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "acked twice");
    drop(stream);

    // Robidus's credentials yield Robidus's copies only.
    let mut robidus = feed(addr).await;
    let mut stream = robidus
        .subscribe(with_token(
            SubscribeRequest { max_in_flight: 10 },
            &party_token("robidus"),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ids = BTreeSet::new();
    for _ in 0..2 {
        let m = next(&mut stream).await;
        let Some(Body::CaseUpdate(update)) = &m.body else {
            panic!("typed")
        };
        assert!(
            !update.employee.as_ref().unwrap().bsn.is_empty(),
            "Robidus gets the BSN"
        );
        ids.insert(m.message_id);
    }
    let expected: BTreeSet<String> = [&first, &second]
        .iter()
        .map(|i| envelope::egress_message_id(i, "processor.robidus"))
        .collect();
    assert_eq!(ids, expected);
    drop(stream);
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_may_report_only_on_its_own_cases() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Feed]).await;
    let addr = running.grpc_addr.unwrap();
    // A case for Robidus only (legal obligation).
    let case = samples::case_update(81, 1);
    publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "legal_reintegration_obligation",
        &case,
    )
    .await;
    consume_as(&env, "robidus", "processor.robidus", 1).await;

    let report = samples::processor_report(81, &case.case_id);
    let status = feed(addr)
        .await
        .submit_report(with_token(
            SubmitReportRequest {
                report: Some(report.clone()),
                purposes: vec![],
            },
            &party_token("future-smart"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("unknown_case_for_processor"),
        "{status:?}"
    );

    // Over AMQP the router rejects it with the same reason.
    let amqp_id = publish_as(
        &env,
        "future-smart",
        "processor.report.v1",
        "outflow_to_work",
        &report,
    )
    .await;
    let dead = get_matching(&env, "dead.hub.router", WAIT, |m| {
        message_id(m).as_deref() == Some(amqp_id.as_str())
    })
    .await
    .expect("dead-lettered");
    assert_eq!(
        header(&dead, envelope::H_REASON).as_deref(),
        Some("unknown_case_for_processor")
    );

    // Robidus's report reaches the re-integration tool.
    let mut own = report.clone();
    own.event_id = "report-81-robidus".to_owned();
    let accepted = feed(addr)
        .await
        .submit_report(with_token(
            SubmitReportRequest {
                report: Some(own),
                purposes: vec![],
            },
            &party_token("robidus"),
        ))
        .await
        .unwrap()
        .into_inner();
    let received = consume_as(&env, "reintegration-tool", "reintegration.reports", 1)
        .await
        .remove(0);
    assert_eq!(received["case_id"], case.case_id.as_str());
    assert_eq!(received["report_type"], "REPORT_TYPE_PLAN_AGREED");
    assert!(!accepted.message_id.is_empty());
    running.stop().await;
    env.cleanup().await;
}

/// The README's rule for processors: apply a case version once, ignore
/// older ones.
fn apply(state: &mut BTreeMap<String, (u64, String)>, case_id: &str, version: u64, duties: &str) {
    let current = state.get(case_id).map_or(0, |(v, _)| *v);
    if version > current {
        state.insert(case_id.to_owned(), (version, duties.to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_shuffled_versions_by_the_readme_rule_yields_the_highest_version() {
    const CASES: u32 = 100;
    const VERSIONS: u64 = 10;
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Feed]).await;
    let addr = running.grpc_addr.unwrap();
    // Every (case, version) once, in a shuffled order (a fixed permutation).
    let mut updates: Vec<(u32, u64)> = (0..CASES)
        .flat_map(|c| (1..=VERSIONS).map(move |v| (c, v)))
        .collect();
    let n = updates.len();
    for i in 0..n {
        updates.swap(i, (i * 7_919 + 13) % n);
    }
    let connection = PartyConnection::as_party(&env, "reintegration-tool").await;
    for (case, version) in &updates {
        let mut update = samples::case_update(900 + case, *version);
        update.employment.as_mut().unwrap().duties = format!("duties v{version}");
        let ingress = Ingress::new(CASE, "reintegration-tool", BOTH);
        connection
            .publish(
                INGRESS_EXCHANGE,
                CASE,
                &to_json(&env, CASE, &update),
                ingress.properties(),
            )
            .await
            .unwrap();
    }
    connection.close().await;

    // Robidus consumes its queue over AMQP, Future Smart through the feed.
    let mut robidus = BTreeMap::new();
    for copy in consume_as(&env, "robidus", "processor.robidus", n).await {
        let version: u64 = copy["case_version"].as_str().unwrap().parse().unwrap();
        apply(
            &mut robidus,
            copy["case_id"].as_str().unwrap(),
            version,
            copy["employment"]["duties"].as_str().unwrap(),
        );
    }
    let token = party_token("future-smart");
    let mut client = feed(addr).await;
    let mut stream = client
        .subscribe(with_token(SubscribeRequest { max_in_flight: 200 }, &token))
        .await
        .unwrap()
        .into_inner();
    let mut future_smart = BTreeMap::new();
    for _ in 0..n {
        let m = next(&mut stream).await;
        let Some(Body::CaseUpdate(u)) = &m.body else {
            panic!("typed")
        };
        apply(
            &mut future_smart,
            &u.case_id,
            u.case_version,
            &u.employment.as_ref().unwrap().duties,
        );
        client
            .ack(with_token(
                AckRequest {
                    message_id: m.message_id,
                },
                &token,
            ))
            .await
            .unwrap();
    }
    for state in [&robidus, &future_smart] {
        assert_eq!(state.len(), CASES as usize);
        for (case_id, (version, duties)) in state {
            assert_eq!(*version, VERSIONS, "{case_id}");
            assert_eq!(
                duties,
                &format!("duties v{VERSIONS}"),
                "{case_id}: the content of the highest version"
            );
        }
    }
    drop(stream);
    running.stop().await;
    env.cleanup().await;
}
