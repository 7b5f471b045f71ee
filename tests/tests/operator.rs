//! `OperatorService` and `hubctl` over it: queues, dead letters (list by
//! group, show masked, reveal, retry, discard), what a retry publishes,
//! batching and rate limiting, concurrent retries, and who may do what.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub::compose::Component;
use hub_core::envelope;
use hub_policy::{Catalog, samples};
use hub_proto::operator::v1 as pb;
use hub_proto::operator::v1::operator_service_client::OperatorServiceClient;
use hub_tests::amqp::{get, header, message_id};
use hub_tests::env::{CATALOG, OPERATOR_TOKEN, PRIVACY_OFFICER_TOKEN, VIEWER_TOKEN};
use hub_tests::grpc::{channel, with_token};
use hub_tests::{TestEnv, eventually, hubctl_binary, publish_as, to_json};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);
const CASE: &str = "reintegration.case_update.v1";
const SURVEY: &str = "reintegration.survey_response.v1";

/// The shipped catalog with Future Smart's route serving another purpose:
/// a case update for `outflow_to_work` then has no route (`no_route`).
fn catalog_without_outflow_route() -> String {
    let from = "purposes = [\"outflow_to_work\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart";
    let to = "purposes = [\"public_private_experience\"]\nlegal_basis = \"Gerechtvaardigd belang (zie DPIA); verwerkersovereenkomst Future Smart";
    let broken = CATALOG.replacen(from, to, 1);
    assert_ne!(broken, CATALOG);
    broken
}

/// Runs `hubctl` against the operator at `addr`; a `hubctl` that does not
/// finish within a minute fails the test, naming the command.
async fn hubctl(addr: SocketAddr, token: &str, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(hubctl_binary())
        .args(args)
        .env("HUB_OPERATOR_URL", format!("http://{addr}"))
        .env("HUB_OPERATOR_TOKEN", token)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("hubctl {args:?} did not finish within a minute"))
        .unwrap()
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Publishes case updates for `outflow_to_work` (rejected by the test
/// catalog); returns their message ids.
async fn unroutable_cases(env: &TestEnv, seeds: std::ops::Range<u32>) -> Vec<String> {
    let mut ids = Vec::new();
    for seed in seeds {
        ids.push(
            publish_as(
                env,
                "reintegration-tool",
                CASE,
                "outflow_to_work",
                &samples::case_update(seed, 1),
            )
            .await,
        );
    }
    ids
}

/// Waits until the dead letters of `message_ids` are stored; their ids, in
/// the order of `message_ids`.
async fn stored(env: &TestEnv, message_ids: &[String]) -> Vec<String> {
    let pool = env.pool().await;
    let ids = eventually("the dead letters stored", WAIT, || {
        let pool = pool.clone();
        async move {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT message_id, id::text FROM dead_letters WHERE message_id = ANY($1)",
            )
            .bind(message_ids)
            .fetch_all(&pool)
            .await
            .unwrap();
            message_ids
                .iter()
                .map(|m| {
                    rows.iter()
                        .find(|(message, _)| message == m)
                        .map(|(_, id)| id.clone())
                })
                .collect::<Option<Vec<String>>>()
        }
    })
    .await;
    pool.close().await;
    ids
}

async fn client(addr: SocketAddr) -> OperatorServiceClient<tonic::transport::Channel> {
    OperatorServiceClient::new(channel(addr).await)
}

/// Runs a retry job as the operator: every progress message, the last one
/// with `done` set.
async fn retry(
    rpc: &mut OperatorServiceClient<tonic::transport::Channel>,
    request: pb::RetryDeadLettersRequest,
) -> Vec<pb::RetryDeadLettersResponse> {
    let mut stream = rpc
        .retry_dead_letters(with_token(request, OPERATOR_TOKEN))
        .await
        .unwrap()
        .into_inner();
    let mut progress = Vec::new();
    while let Some(p) = stream.message().await.unwrap() {
        progress.push(p);
    }
    progress
}

fn group(reason: &str, message_type: &str) -> pb::DeadLetterSelection {
    pb::DeadLetterSelection {
        kind: Some(pb::dead_letter_selection::Kind::Group(
            pb::DeadLetterGroupKey {
                origin_queue: "hub.router".to_owned(),
                reason: reason.to_owned(),
                message_type: message_type.to_owned(),
            },
        )),
    }
}

fn ids(ids: &[String]) -> pb::DeadLetterSelection {
    pb::DeadLetterSelection {
        kind: Some(pb::dead_letter_selection::Kind::Ids(pb::DeadLetterIds {
            ids: ids.to_vec(),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubctl_queues_shows_every_hub_queue_with_its_counts_services_and_alarms() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Operator]).await;
    let addr = running.grpc_addr.unwrap();
    // A survey copy waits in research.survey: nobody consumes it here.
    publish_as(
        &env,
        "reintegration-tool",
        SURVEY,
        "tool_usage_research",
        &samples::survey_response(81),
    )
    .await;

    // The management API samples every few seconds.
    let stdout = eventually(
        "research.survey with one ready message",
        WAIT,
        || async move {
            let output = hubctl(addr, VIEWER_TOKEN, &["queues"]).await;
            assert!(output.status.success(), "{}", err(&output));
            let stdout = out(&output);
            stdout
                .lines()
                .any(|l| {
                    l.split_whitespace().take(2).collect::<Vec<_>>() == ["research.survey", "1"]
                })
                .then_some(stdout)
        },
    )
    .await;
    assert!(stdout.starts_with("queue"), "{stdout}");
    for queue in [
        "hub.router",
        "dossier.onboarding",
        "processor.robidus",
        "processor.future-smart",
        "dead.hub.router",
        "dead.research.survey",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{queue} "))),
            "{queue}:\n{stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("dossier") && l.contains("NOT READY")),
        "{stdout}"
    );
    assert!(
        stdout.contains("broker rabbit@") && stdout.contains("no alarms"),
        "{stdout}"
    );

    let output = hubctl(addr, "not-a-token-of-anyone-0123456789", &["queues"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(err(&output).contains("Unauthenticated"), "{}", err(&output));
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubctl_dlq_list_shows_groups_and_show_masks_values_unless_a_privacy_officer_reveals() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Operator]).await;
    let addr = running.grpc_addr.unwrap();
    let case = samples::case_update(82, 1);
    let employee = case.employee.clone().unwrap();
    let mut rejected = vec![
        publish_as(
            &env,
            "reintegration-tool",
            CASE,
            "tool_usage_research",
            &case,
        )
        .await,
    ];
    rejected.push(
        publish_as(
            &env,
            "reintegration-tool",
            CASE,
            "tool_usage_research",
            &samples::case_update(83, 1),
        )
        .await,
    );
    rejected.push(
        publish_as(
            &env,
            "reintegration-tool",
            SURVEY,
            "wellbeing",
            &samples::survey_response(82),
        )
        .await,
    );
    let dead = stored(&env, &rejected).await;

    let output = hubctl(addr, VIEWER_TOKEN, &["dlq", "list"]).await;
    assert!(output.status.success(), "{}", err(&output));
    let stdout = out(&output);
    assert!(
        stdout.starts_with("2 groups of open dead letters"),
        "{stdout}"
    );
    let row = |t: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.contains(t))
            .unwrap_or_else(|| panic!("{t}:\n{stdout}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row(CASE)[..5],
        ["hub.router", "purpose_not_allowed", CASE, "2", "2"]
    );
    assert_eq!(
        row(SURVEY)[..4],
        ["hub.router", "purpose_not_allowed", SURVEY, "1"]
    );

    let output = hubctl(
        addr,
        VIEWER_TOKEN,
        &[
            "dlq",
            "list",
            "--queue",
            "hub.router",
            "--failure",
            "purpose_not_allowed",
            "--type",
            CASE,
        ],
    )
    .await;
    let stdout = out(&output);
    assert!(
        stdout.starts_with("2 open dead letters (2 shown)"),
        "{stdout}"
    );
    assert!(stdout.contains(&dead[0]) && stdout.contains(&dead[1]) && !stdout.contains(&dead[2]));

    let output = hubctl(addr, OPERATOR_TOKEN, &["dlq", "show", &dead[0]]).await;
    assert!(output.status.success(), "{}", err(&output));
    let stdout = out(&output);
    assert!(
        stdout.contains(&rejected[0]) && stdout.contains("reintegration-tool"),
        "{stdout}"
    );
    let bsn_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("employee.bsn "))
        .unwrap();
    assert_eq!(
        bsn_line.split_whitespace().collect::<Vec<_>>(),
        ["employee.bsn", "bsn", "••••••"]
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["medical.diagnosis", "health", "••••••"]),
        "{stdout}"
    );
    for value in [&employee.bsn, &employee.surname, &employee.email] {
        assert!(
            !stdout.contains(value.as_str()),
            "a value in the masked view:\n{stdout}"
        );
    }

    // Revealing: the privacy officer only, with a reason.
    let reveal = [
        "dlq",
        "show",
        &dead[0],
        "--reveal",
        "--reason",
        "access request 12",
    ];
    let output = hubctl(addr, OPERATOR_TOKEN, &reveal).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        err(&output).contains("PermissionDenied"),
        "{}",
        err(&output)
    );
    let output = hubctl(addr, PRIVACY_OFFICER_TOKEN, &reveal).await;
    assert!(output.status.success(), "{}", err(&output));
    let stdout = out(&output);
    let bsn_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("employee.bsn "))
        .unwrap();
    assert!(bsn_line.ends_with(&employee.bsn), "{bsn_line}");
    let pool = env.pool().await;
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, reason FROM audit_log WHERE action = 'reveal_dead_letter'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        audited,
        [("pia".to_owned(), "access request 12".to_owned())]
    );
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubctl_dlq_retry_replays_a_group_through_the_fixed_catalog_and_discard_keeps_metadata() {
    let env = TestEnv::with_catalog(&catalog_without_outflow_route()).await;
    let operator = env.start(&[Component::Operator]).await;
    let addr = operator.grpc_addr.unwrap();
    let router = env.start(&[Component::Router]).await;
    let messages = unroutable_cases(&env, 84..88).await;
    let dead = stored(&env, &messages).await;

    // Discard one, with a reason.
    let output = hubctl(
        addr,
        OPERATOR_TOKEN,
        &[
            "dlq",
            "discard",
            &dead[3],
            "--reason",
            "test data, not needed",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", err(&output));
    assert_eq!(out(&output).trim(), "discarded 1, skipped 0 (not open)");
    let output = hubctl(
        addr,
        OPERATOR_TOKEN,
        &["dlq", "discard", &dead[3], "--reason", "again"],
    )
    .await;
    assert_eq!(out(&output).trim(), "discarded 0, skipped 1 (not open)");

    // Fix the catalog, then retry the rest of the group.
    router.stop().await;
    let mut fixed = env.hub_config();
    fixed.catalog = Arc::new(Catalog::from_toml(CATALOG).unwrap());
    let router = env.start_with(fixed, &[Component::Router]).await;
    let output = hubctl(
        addr,
        OPERATOR_TOKEN,
        &[
            "dlq",
            "retry",
            "--queue",
            "hub.router",
            "--failure",
            "no_route",
            "--type",
            CASE,
            "--batch-size",
            "2",
            "--reason",
            "catalog fixed",
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}\n{}",
        out(&output),
        err(&output)
    );
    assert!(
        out(&output).contains("retried 3 of 3, skipped 0, failed 0"),
        "{}",
        out(&output)
    );
    let stderr = err(&output);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress "))
        .collect();
    assert_eq!(
        progress.last().copied(),
        Some("progress 3/3 retried 3 skipped 0 failed 0"),
        "{stderr}"
    );

    // Every retried message reaches Future Smart, in whatever order.
    let mut waiting: Vec<String> = messages[..3]
        .iter()
        .map(|m| envelope::egress_message_id(m, "processor.future-smart"))
        .collect();
    while !waiting.is_empty() {
        let copy = get(&env, "processor.future-smart", WAIT)
            .await
            .unwrap_or_else(|| panic!("not delivered after the retry: {waiting:?}"));
        let id = message_id(&copy).unwrap();
        waiting.retain(|w| *w != id);
    }
    let pool = env.pool().await;
    let state = |id: String| {
        let pool = pool.clone();
        async move {
            let row: (String, bool, String, String) = sqlx::query_as(
                "SELECT state, payload IS NULL, resolved_by, resolution_note FROM dead_letters WHERE id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
            row
        }
    };
    let retried = (
        "retried".to_owned(),
        true,
        "otto".to_owned(),
        "catalog fixed".to_owned(),
    );
    for id in &dead[..3] {
        assert_eq!(state(id.clone()).await, retried);
    }
    assert_eq!(
        state(dead[3].clone()).await,
        (
            "discarded".to_owned(),
            true,
            "otto".to_owned(),
            "test data, not needed".to_owned()
        )
    );
    let (size, message_type): (i32, String) =
        sqlx::query_as("SELECT size_bytes, message_type FROM dead_letters WHERE id = $1::uuid")
            .bind(&dead[3])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(size > 0 && message_type == CASE, "the metadata stays");
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "discard_dead_letters",
            "discard_dead_letters",
            "retry_dead_letters"
        ]
    );
    let output = hubctl(addr, VIEWER_TOKEN, &["dlq", "list"]).await;
    assert!(out(&output).starts_with("0 groups"), "{}", out(&output));
    pool.close().await;
    router.stop().await;
    operator.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_published_to_ingress_as_the_hub_naming_the_original_producer() {
    let env = TestEnv::with_catalog(&catalog_without_outflow_route()).await;
    let operator = env.start(&[Component::Operator]).await;
    let router = env.start(&[Component::Router]).await;
    let case = samples::case_update(88, 1);
    let message = publish_as(&env, "reintegration-tool", CASE, "outflow_to_work", &case).await;
    let dead = stored(&env, std::slice::from_ref(&message)).await;
    // Nobody routes now: the retried message stays in hub.router to be read.
    router.stop().await;

    let mut rpc = client(operator.grpc_addr.unwrap()).await;
    let progress = retry(
        &mut rpc,
        pb::RetryDeadLettersRequest {
            selection: Some(ids(&dead)),
            ..Default::default()
        },
    )
    .await;
    let last = progress.last().unwrap();
    assert!(
        last.done && last.retried == 1 && last.error.is_empty(),
        "{last:?}"
    );

    let retried = get(&env, "hub.router", WAIT)
        .await
        .expect("the retried message");
    let properties = &retried.delivery.properties;
    assert_eq!(
        properties.user_id().as_ref().map(|u| u.as_str()),
        Some("guest"),
        "as the hub's own user"
    );
    assert_eq!(
        header(&retried, envelope::H_SOURCE).as_deref(),
        Some("reintegration-tool")
    );
    assert_eq!(
        header(&retried, envelope::H_PURPOSE).as_deref(),
        Some("outflow_to_work")
    );
    assert_eq!(
        header(&retried, "x-hub-retry-of").as_deref(),
        Some(dead[0].as_str())
    );
    assert_eq!(properties.kind().as_ref().map(|t| t.as_str()), Some(CASE));
    assert_eq!(
        properties.content_type().as_ref().map(|t| t.as_str()),
        Some("application/json")
    );
    assert_eq!(message_id(&retried).as_deref(), Some(message.as_str()));
    assert_eq!(properties.delivery_mode(), &Some(2));
    assert_eq!(
        retried.delivery.data,
        to_json(&env, CASE, &case),
        "the original payload"
    );
    // Nothing of the failure travels along.
    assert_eq!(header(&retried, envelope::H_REASON), None);

    let pool = env.pool().await;
    let (state, payload_gone): (String, bool) =
        sqlx::query_as("SELECT state, payload IS NULL FROM dead_letters WHERE id = $1::uuid")
            .bind(&dead[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), payload_gone), ("retried", true));
    // Retrying it again does nothing: it is no longer open.
    let progress = retry(
        &mut rpc,
        pb::RetryDeadLettersRequest {
            selection: Some(ids(&dead)),
            ..Default::default()
        },
    )
    .await;
    let again = progress.last().unwrap();
    assert_eq!((again.retried, again.skipped), (0, 1));
    assert!(
        get(&env, "hub.router", Duration::from_millis(500))
            .await
            .is_none()
    );
    pool.close().await;
    operator.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_retry_goes_in_batches_at_the_asked_rate_and_reports_progress() {
    let env = TestEnv::with_catalog(&catalog_without_outflow_route()).await;
    let operator = env.start(&[Component::Operator]).await;
    let router = env.start(&[Component::Router]).await;
    let messages = unroutable_cases(&env, 90..96).await;
    stored(&env, &messages).await;
    router.stop().await;

    let mut rpc = client(operator.grpc_addr.unwrap()).await;
    let started = Instant::now();
    let progress = retry(
        &mut rpc,
        pb::RetryDeadLettersRequest {
            selection: Some(group("no_route", CASE)),
            batch_size: 2,
            rate_per_second: 5,
            note: String::new(),
        },
    )
    .await;
    let mut seen = Vec::new();
    for p in &progress {
        assert_eq!(p.total, 6);
        seen.push((p.retried, p.done));
    }
    let elapsed = started.elapsed();
    // Six messages at five a second: the sixth goes a second after the first.
    assert!(elapsed >= Duration::from_millis(1_000), "{elapsed:?}");
    assert_eq!(seen.last(), Some(&(6, true)));
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress only grows: {seen:?}"
    );
    assert!(
        seen.iter().any(|(r, _)| *r > 0 && *r < 6),
        "progress was reported between batches: {seen:?}"
    );
    assert!(
        seen.iter().all(|(r, _)| r % 2 == 0),
        "whole batches of two: {seen:?}"
    );
    operator.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_retries_of_the_same_group_publish_each_dead_letter_once() {
    let env = TestEnv::with_catalog(&catalog_without_outflow_route()).await;
    let operator = env.start(&[Component::Operator]).await;
    let router = env.start(&[Component::Router]).await;
    let messages = unroutable_cases(&env, 100..110).await;
    stored(&env, &messages).await;
    router.stop().await;

    let addr = operator.grpc_addr.unwrap();
    let run = || async move {
        let mut rpc = client(addr).await;
        let progress = retry(
            &mut rpc,
            pb::RetryDeadLettersRequest {
                selection: Some(group("no_route", CASE)),
                batch_size: 3,
                rate_per_second: 20,
                note: String::new(),
            },
        )
        .await;
        progress.last().cloned().unwrap()
    };
    let (a, b) = tokio::join!(run(), run());
    assert_eq!(a.retried + b.retried, 10, "{a:?} {b:?}");
    assert_eq!(a.retried + a.skipped + a.failed, a.total);
    let mut published = Vec::new();
    while let Some(m) = get(&env, "hub.router", Duration::from_millis(1_000)).await {
        published.push(message_id(&m).unwrap());
    }
    published.sort();
    let mut expected = messages.clone();
    expected.sort();
    assert_eq!(published, expected, "each once");
    operator.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_viewer_may_look_but_not_retry_discard_or_reveal() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Operator]).await;
    let message = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "tool_usage_research",
        &samples::case_update(97, 1),
    )
    .await;
    let dead = stored(&env, &[message]).await;
    let mut rpc = client(running.grpc_addr.unwrap()).await;

    let groups = rpc
        .list_dead_letter_groups(with_token(pb::ListDeadLetterGroupsRequest {}, VIEWER_TOKEN))
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 1);
    let shown = rpc
        .get_dead_letter(with_token(
            pb::GetDeadLetterRequest {
                id: dead[0].clone(),
            },
            VIEWER_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let fields = shown.payload.unwrap().fields;
    assert!(
        fields
            .iter()
            .any(|f| f.path == "employee.bsn" && f.category == "bsn")
    );
    assert!(
        fields.iter().all(|f| f.values.is_empty()),
        "no values without a reveal"
    );

    let retry = rpc
        .retry_dead_letters(with_token(
            pb::RetryDeadLettersRequest {
                selection: Some(ids(&dead)),
                ..Default::default()
            },
            VIEWER_TOKEN,
        ))
        .await;
    assert_eq!(retry.err().map(|s| s.code()), Some(Code::PermissionDenied));
    let discard = rpc
        .discard_dead_letters(with_token(
            pb::DiscardDeadLettersRequest {
                selection: Some(group("purpose_not_allowed", CASE)),
                reason: "no".to_owned(),
            },
            VIEWER_TOKEN,
        ))
        .await;
    assert_eq!(
        discard.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    for token in [VIEWER_TOKEN, OPERATOR_TOKEN] {
        let reveal = rpc
            .reveal_dead_letter(with_token(
                pb::RevealDeadLetterRequest {
                    id: dead[0].clone(),
                    reason: "curious".to_owned(),
                },
                token,
            ))
            .await;
        assert_eq!(reveal.err().map(|s| s.code()), Some(Code::PermissionDenied));
    }
    let anonymous = rpc
        .list_dead_letter_groups(pb::ListDeadLetterGroupsRequest {})
        .await;
    assert_eq!(
        anonymous.err().map(|s| s.code()),
        Some(Code::Unauthenticated)
    );
    // The privacy officer needs a reason.
    let no_reason = rpc
        .reveal_dead_letter(with_token(
            pb::RevealDeadLetterRequest {
                id: dead[0].clone(),
                reason: String::new(),
            },
            PRIVACY_OFFICER_TOKEN,
        ))
        .await;
    assert_eq!(
        no_reason.err().map(|s| s.code()),
        Some(Code::InvalidArgument)
    );
    // A discard needs one too.
    let no_reason = rpc
        .discard_dead_letters(with_token(
            pb::DiscardDeadLettersRequest {
                selection: Some(ids(&dead)),
                reason: " ".to_owned(),
            },
            OPERATOR_TOKEN,
        ))
        .await;
    assert_eq!(
        no_reason.err().map(|s| s.code()),
        Some(Code::InvalidArgument)
    );

    let pool = env.pool().await;
    let (state, kept): (String, bool) =
        sqlx::query_as("SELECT state, payload IS NOT NULL FROM dead_letters WHERE id = $1::uuid")
            .bind(&dead[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), kept),
        ("open", true),
        "nothing happened to it"
    );
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 0, "nothing was done, nothing revealed");
    pool.close().await;
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_cannot_launder_a_forged_producer() {
    let env = TestEnv::new().await;
    let operator = env.start(&[Component::Operator]).await;
    let router = env.start(&[Component::Router]).await;
    // WenS claims to be the re-integration tool: refused, unauthorised_source.
    let mut forged = hub_tests::amqp::Ingress::new(CASE, "wens", "outflow_to_work");
    forged.source = Some("reintegration-tool".to_owned());
    let json = to_json(&env, CASE, &samples::case_update(98, 1));
    let wens = hub_tests::amqp::PartyConnection::as_party(&env, "wens").await;
    wens.publish(envelope::INGRESS_EXCHANGE, CASE, &json, forged.properties())
        .await
        .unwrap();
    wens.close().await;
    let message = forged.message_id.clone().unwrap();
    let dead = stored(&env, std::slice::from_ref(&message)).await;
    router.stop().await;

    let pool = env.pool().await;
    let (reason, source): (String, String) =
        sqlx::query_as("SELECT reason, source FROM dead_letters WHERE id = $1::uuid")
            .bind(&dead[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (reason.as_str(), source.as_str()),
        ("unauthorised_source", "wens")
    );

    // Retried, it names WenS, whatever header WenS set.
    let mut rpc = client(operator.grpc_addr.unwrap()).await;
    retry(
        &mut rpc,
        pb::RetryDeadLettersRequest {
            selection: Some(ids(&dead)),
            ..Default::default()
        },
    )
    .await;
    let retried = get(&env, "hub.router", WAIT)
        .await
        .expect("the retried message");
    assert_eq!(
        header(&retried, envelope::H_SOURCE).as_deref(),
        Some("wens")
    );
    pool.close().await;
    operator.stop().await;
    env.cleanup().await;
}
