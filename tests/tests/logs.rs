//! No personal data in logs: every flow runs through `hub all` with tracing
//! at debug level, and what was logged holds no test BSN, name, e-mail
//! address or phone number.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use hub_policy::samples;
use hub_proto::dossier::v1::GetDossierRequest;
use hub_proto::dossier::v1::dossier_service_client::DossierServiceClient;
use hub_proto::operator::v1::dead_letter_selection::Kind;
use hub_proto::operator::v1::operator_service_client::OperatorServiceClient;
use hub_proto::operator::v1::search_processing_log_request::Subject;
use hub_proto::operator::v1::{
    DeadLetterIds, DeadLetterSelection, GetDeadLetterRequest, ListDeadLettersRequest,
    RetryDeadLettersRequest, RevealDeadLetterRequest, SearchProcessingLogRequest,
};
use hub_proto::processor::v1::case_feed_service_client::CaseFeedServiceClient;
use hub_proto::processor::v1::{AckRequest, SubmitReportRequest, SubscribeRequest};
use hub_proto::reintegration::v1::case_update_service_client::CaseUpdateServiceClient;
use hub_proto::reintegration::v1::{SubmitCaseUpdateRequest, SubmitSurveyResponseRequest};
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_tests::env::{ADMIN_TOKEN, OPERATOR_TOKEN, PRIVACY_OFFICER_TOKEN, party_token};
use hub_tests::grpc::{channel, with_token};
use hub_tests::process::HubProcess;
use hub_tests::{TestEnv, eventually, publish_as};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every personal value the flows below send.
fn personal_values(hire_seeds: &[u32], case_seeds: &[u32]) -> Vec<String> {
    let mut values = Vec::new();
    for seed in hire_seeds {
        let c = samples::hire_event(*seed).candidate.unwrap();
        values.extend([
            c.bsn,
            c.surname,
            c.email,
            c.phone,
            c.first_names,
            c.birth_date,
        ]);
    }
    for seed in case_seeds {
        let e = samples::case_update(*seed, 1).employee.unwrap();
        values.extend([e.bsn, e.surname, e.email, e.phone, e.birth_date]);
    }
    values.extend([
        "SYNTHETISCHE-DIAGNOSE".to_owned(),
        "Voorbeeldstraat".to_owned(),
        "Fictiefdorp".to_owned(),
    ]);
    values.sort();
    values.dedup();
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_test_bsn_name_email_or_phone_appears_in_the_debug_logs() {
    let env = TestEnv::new().await;
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tokens: Vec<(String, String)> = env
        .catalog
        .parties()
        .map(|p| {
            (
                format!(
                    "HUB_PARTY_TOKEN_{}",
                    hub_core::config::party_env_suffix(&p.id)
                ),
                party_token(&p.id),
            )
        })
        .chain([
            ("HUB_GRPC_ADDR".to_owned(), addr.to_string()),
            (
                "HUB_CONSOLE_ADDR".to_owned(),
                format!("127.0.0.1:{}", free_port()),
            ),
            ("HUB_LOG".to_owned(), "debug".to_owned()),
            (
                "HUB_OPERATORS".to_owned(),
                format!(
                    "pia:privacy-officer:{PRIVACY_OFFICER_TOKEN},otto:operator:{OPERATOR_TOKEN}"
                ),
            ),
        ])
        .collect();
    let extra: Vec<(&str, String)> = tokens
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let mut hub = HubProcess::start(&env, "all", &extra).await;
    let grpc = eventually("hub all serving", Duration::from_secs(60), || async {
        tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .ok()
    })
    .await;

    // Hire events: gRPC valid and invalid, AMQP valid and invalid.
    let mut hires = HireEventServiceClient::new(grpc.clone());
    hires
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(samples::hire_event(401)),
            },
            &party_token("wens"),
        ))
        .await
        .unwrap();
    let mut bad = samples::hire_event(402);
    bad.candidate.as_mut().unwrap().bsn = "123456789".to_owned();
    hires
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(bad.clone()),
            },
            &party_token("wens"),
        ))
        .await
        .unwrap_err();
    publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &samples::hire_event(403),
    )
    .await;
    publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &bad,
    )
    .await;
    // Case updates (gRPC and AMQP), a survey, a report, the feed.
    let mut cases = CaseUpdateServiceClient::new(grpc.clone());
    let both = vec![
        "outflow_to_work".to_owned(),
        "legal_reintegration_obligation".to_owned(),
    ];
    let case = samples::case_update(404, 1);
    cases
        .submit_case_update(with_token(
            SubmitCaseUpdateRequest {
                update: Some(case.clone()),
                purposes: both.clone(),
            },
            &party_token("reintegration-tool"),
        ))
        .await
        .unwrap();
    publish_as(
        &env,
        "reintegration-tool",
        "reintegration.case_update.v1",
        "outflow_to_work,legal_reintegration_obligation",
        &samples::case_update(405, 1),
    )
    .await;
    cases
        .submit_survey_response(with_token(
            SubmitSurveyResponseRequest {
                response: Some(samples::survey_response(404)),
                purposes: vec![],
            },
            &party_token("reintegration-tool"),
        ))
        .await
        .unwrap();
    let mut feed = CaseFeedServiceClient::new(grpc.clone());
    let mut stream = feed
        .subscribe(with_token(
            SubscribeRequest { max_in_flight: 10 },
            &party_token("future-smart"),
        ))
        .await
        .unwrap()
        .into_inner();
    let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    feed.ack(with_token(
        AckRequest {
            message_id: message.message_id,
        },
        &party_token("future-smart"),
    ))
    .await
    .unwrap();
    drop(stream);
    let report = samples::processor_report(404, &case.case_id);
    eventually("the report accepted", Duration::from_secs(30), || {
        let mut feed = feed.clone();
        let report = report.clone();
        async move {
            feed.submit_report(with_token(
                SubmitReportRequest {
                    report: Some(report),
                    purposes: vec![],
                },
                &party_token("robidus"),
            ))
            .await
            .ok()
        }
    })
    .await;
    // Reading a dossier, and a subject access search by BSN.
    let number = samples::hire_event(401)
        .appointment
        .unwrap()
        .personnel_number;
    let mut dossiers = DossierServiceClient::new(grpc.clone());
    eventually("the dossier", Duration::from_secs(30), || {
        let mut dossiers = dossiers.clone();
        let number = number.clone();
        async move {
            dossiers
                .get_dossier(with_token(
                    GetDossierRequest {
                        personnel_number: number,
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .ok()
        }
    })
    .await;
    let _ = dossiers
        .get_dossier(with_token(
            GetDossierRequest {
                personnel_number: number.clone(),
            },
            &party_token("wens"),
        ))
        .await;
    let bsn = case.employee.clone().unwrap().bsn;
    let mut operator = OperatorServiceClient::new(channel(addr).await);
    operator
        .search_processing_log(with_token(
            SearchProcessingLogRequest {
                subject: Some(Subject::Bsn(bsn)),
                reason: "test".to_owned(),
                limit: 10,
            },
            PRIVACY_OFFICER_TOKEN,
        ))
        .await
        .unwrap();

    // Dead letters: the rejected AMQP hire event, listed, shown masked,
    // revealed by the privacy officer and retried by the operator.
    let dead = eventually(
        "the rejected hire event kept",
        Duration::from_secs(30),
        || {
            let mut operator = operator.clone();
            async move {
                let list = operator
                    .list_dead_letters(with_token(
                        ListDeadLettersRequest::default(),
                        OPERATOR_TOKEN,
                    ))
                    .await
                    .ok()?
                    .into_inner();
                list.dead_letters.into_iter().next()
            }
        },
    )
    .await;
    operator
        .get_dead_letter(with_token(
            GetDeadLetterRequest {
                id: dead.id.clone(),
            },
            OPERATOR_TOKEN,
        ))
        .await
        .unwrap();
    let revealed = operator
        .reveal_dead_letter(with_token(
            RevealDeadLetterRequest {
                id: dead.id.clone(),
                reason: "test".to_owned(),
            },
            PRIVACY_OFFICER_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        revealed
            .payload
            .is_some_and(|p| p.fields.iter().any(|f| !f.values.is_empty())),
        "values were revealed (and must still not be logged)"
    );
    let mut progress = operator
        .retry_dead_letters(with_token(
            RetryDeadLettersRequest {
                selection: Some(DeadLetterSelection {
                    kind: Some(Kind::Ids(DeadLetterIds {
                        ids: vec![dead.id.clone()],
                    })),
                }),
                ..RetryDeadLettersRequest::default()
            },
            OPERATOR_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut retried = 0;
    while let Some(step) = progress.next().await {
        retried = step.unwrap().retried;
    }
    assert_eq!(retried, 1);

    hub.signal("-TERM").await;
    hub.wait(Duration::from_secs(30)).await;
    let log = hub.output();
    assert!(log.lines().count() > 50, "debug logging was on:\n{log}");
    assert!(log.contains("DEBUG"), "debug level lines were written");
    let leaked: Vec<String> = personal_values(&[401, 402, 403], &[404, 405])
        .into_iter()
        .filter(|value| log.contains(value.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "personal data in the logs: {leaked:?} (log: {})",
        hub.log.display()
    );
    env.cleanup().await;
}
