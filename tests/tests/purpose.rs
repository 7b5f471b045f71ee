//! Purpose limitation as code: every route delivers exactly the fields of
//! DOMAIN.md, copies go only where declared purposes lead, the processing log
//! holds pseudonyms only and answers a subject access request, and a
//! database outage loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hub::compose::Component;
use hub::tap::Tap;
use hub_core::amqp::Amqp;
use hub_core::amqp::headers::{get_str, short};
use hub_core::envelope;
use hub_policy::fieldpath::covers;
use hub_policy::mask::populated_paths;
use hub_policy::{ContentType, payload, samples};
use hub_tests::amqp::{get_matching, header, message_id};
use hub_tests::env::{PRIVACY_OFFICER_TOKEN, VIEWER_TOKEN};
use hub_tests::proxy::Proxy;
use hub_tests::{TestEnv, eventually, hubctl_binary, publish_as};
use lapin::message::Delivery;

const WAIT: Duration = Duration::from_secs(30);
const CASE: &str = "reintegration.case_update.v1";
const SURVEY: &str = "reintegration.survey_response.v1";
const BOTH: &str = "outflow_to_work,legal_reintegration_obligation";

/// DOMAIN.md, route by route: the fields (or enclosing messages) each
/// recipient receives. Written here independently of the catalog, so that a
/// catalog that widens or narrows a route fails this test.
fn domain_table() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        (
            "dossier.onboarding",
            vec![
                "event_id",
                "occurred_at",
                "vacancy_id",
                "vacancy_title",
                "candidate.candidate_id",
                "candidate.bsn",
                "candidate.initials",
                "candidate.first_names",
                "candidate.surname",
                "candidate.title",
                "candidate.gender",
                "candidate.birth_date",
                "candidate.civil_status",
                "candidate.birth_place",
                "candidate.nationality",
                "candidate.address",
                "candidate.phone",
                "candidate.email",
                "candidate.bank_account",
                "candidate.education",
                "candidate.qualifications",
                "candidate.work_experience",
                "candidate.references",
                "candidate.cv_document",
                "candidate.motivation",
                "appointment",
            ],
        ),
        (
            "processor.robidus",
            vec![
                "event_id",
                "case_id",
                "case_version",
                "status",
                "occurred_at",
                "employee.employee_id",
                "employee.bsn",
                "employee.initials",
                "employee.surname",
                "employee.birth_date",
                "employee.address",
                "employee.email",
                "employee.phone",
                "availability",
                "employment.defence_branch",
                "employment.unit",
                "employment.duties",
                "employment.function_description",
                "employment.hours_own_work_per_week",
                "employment.hours_adapted_work_per_week",
                "employment.end_of_appointment",
                "employment.payroll_tax_number",
                "employment.salary_continuation_end",
                "employment.dismissal_date",
                "employment.dismissal_reason",
                "absence",
                "poortwachter",
                "benefits",
                "capability",
            ],
        ),
        (
            "processor.future-smart",
            vec![
                "event_id",
                "case_id",
                "case_version",
                "status",
                "occurred_at",
                "employee.initials",
                "employee.surname",
                "employee.email",
                "employee.phone",
                "availability",
                "employment.defence_branch",
                "employment.duties",
                "employment.function_description",
                "employment.hours_own_work_per_week",
                "employment.hours_adapted_work_per_week",
                "employment.end_of_appointment",
                "capability.functional_abilities",
                "capability.function_suitability_advice",
            ],
        ),
        (
            "research.survey",
            vec![
                "event_id",
                "occurred_at",
                "respondent_branch",
                "respondent_unit",
                "experience_band",
                "long_absence_cases_band",
                "tool_usage",
                "statements",
                "ranked_elements",
                "recommendation",
                "non_use_reason",
            ],
        ),
        (
            "reintegration.reports",
            vec![
                "event_id",
                "case_id",
                "report_type",
                "occurred_at",
                "placement",
                "note",
            ],
        ),
    ])
}

fn decode(env: &TestEnv, delivery: &Delivery) -> prost_reflect::DynamicMessage {
    let message_type = short(delivery.properties.kind()).unwrap().to_owned();
    let schema = env
        .catalog
        .message_type(&message_type)
        .unwrap()
        .schema
        .clone();
    let content_type = ContentType::parse(short(delivery.properties.content_type())).unwrap();
    payload::decode(&schema, content_type, &delivery.data).unwrap()
}

fn ingress_of(delivery: &Delivery) -> String {
    get_str(
        delivery.properties.headers().as_ref(),
        envelope::H_INGRESS_ID,
    )
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_delivers_exactly_the_fields_of_the_domain_table() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router]).await;
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let queues = env.catalog.recipient_queues();
    let mut tap = Tap::new(&amqp, &queues).await.unwrap();

    let hire = samples::hire_event(31);
    let case = samples::case_update(31, 1);
    let survey = samples::survey_response(31);
    let report = samples::processor_report(31, &case.case_id);
    let mut sent = BTreeMap::new();
    sent.insert(
        publish_as(
            &env,
            "wens",
            "wens.hire.v1",
            "appointment_preparation",
            &hire,
        )
        .await,
        "wens.hire.v1",
    );
    sent.insert(
        publish_as(&env, "reintegration-tool", CASE, BOTH, &case).await,
        CASE,
    );
    sent.insert(
        publish_as(
            &env,
            "reintegration-tool",
            SURVEY,
            "tool_usage_research",
            &survey,
        )
        .await,
        SURVEY,
    );
    // A report is accepted only once the case was delivered to Robidus.
    let mut copies: BTreeMap<String, Delivery> = BTreeMap::new();
    while copies.len() < 4 {
        let d = tap.next(WAIT).await.expect("a copy");
        copies.insert(d.routing_key.to_string(), d);
    }
    sent.insert(
        publish_as(
            &env,
            "robidus",
            "processor.report.v1",
            "legal_reintegration_obligation",
            &report,
        )
        .await,
        "processor.report.v1",
    );
    let d = tap.next(WAIT).await.expect("the report's copy");
    copies.insert(d.routing_key.to_string(), d);
    assert_eq!(
        copies.keys().map(String::as_str).collect::<Vec<_>>(),
        queues,
        "one copy per route"
    );

    let originals: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        (
            "dossier.onboarding",
            populated_paths(&decode_typed(&env, "wens.hire.v1", &hire)),
        ),
        (
            "processor.robidus",
            populated_paths(&decode_typed(&env, CASE, &case)),
        ),
        (
            "processor.future-smart",
            populated_paths(&decode_typed(&env, CASE, &case)),
        ),
        (
            "research.survey",
            populated_paths(&decode_typed(&env, SURVEY, &survey)),
        ),
        (
            "reintegration.reports",
            populated_paths(&decode_typed(&env, "processor.report.v1", &report)),
        ),
    ]);
    for (queue, allowed) in domain_table() {
        let copy = &copies[queue];
        assert!(
            sent.contains_key(&ingress_of(copy)),
            "{queue}: copy of an unknown message"
        );
        let received = populated_paths(&decode(&env, copy));
        let expected: BTreeSet<String> = originals[queue]
            .iter()
            .filter(|path| allowed.iter().any(|a| covers(a, path)))
            .cloned()
            .collect();
        let extra: Vec<_> = received.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&received).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{queue}: extra {extra:?}, missing {missing:?}"
        );
        assert!(
            received.iter().all(|p| !p.starts_with("medical")),
            "{queue} carries medical data"
        );
    }
    // The BSN only where a statute allows it.
    assert!(populated_paths(&decode(&env, &copies["processor.robidus"])).contains("employee.bsn"));
    assert!(
        !populated_paths(&decode(&env, &copies["processor.future-smart"])).contains("employee.bsn")
    );

    tap.close().await;
    running.stop().await;
    env.cleanup().await;
}

fn decode_typed<M: prost::Message>(
    env: &TestEnv,
    message_type: &str,
    message: &M,
) -> prost_reflect::DynamicMessage {
    let schema = env
        .catalog
        .message_type(message_type)
        .unwrap()
        .schema
        .clone();
    let mut dynamic = prost_reflect::DynamicMessage::new(schema);
    dynamic.transcode_from(message).unwrap();
    dynamic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_go_only_where_the_declared_purposes_lead() {
    // The router handles one message at a time here, so copies keep the
    // order of publishing and a sequence per queue shows what crossed it.
    let env = TestEnv::with(hub_tests::env::CATALOG, |amqp| amqp.prefetch = 1).await;
    let running = env.start(&[Component::Router]).await;
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let mut robidus = Tap::new(&amqp, &["processor.robidus"]).await.unwrap();
    let mut future_smart = Tap::new(&amqp, &["processor.future-smart"]).await.unwrap();
    let mut research = Tap::new(&amqp, &["research.survey"]).await.unwrap();

    let outflow_only = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "outflow_to_work",
        &samples::case_update(41, 1),
    )
    .await;
    // Surveys never reach a processor, whatever they declare.
    let survey_ok = publish_as(
        &env,
        "reintegration-tool",
        SURVEY,
        "tool_usage_research",
        &samples::survey_response(41),
    )
    .await;
    let survey_legal = publish_as(
        &env,
        "reintegration-tool",
        SURVEY,
        "legal_reintegration_obligation",
        &samples::survey_response(42),
    )
    .await;
    let survey_mixed = publish_as(
        &env,
        "reintegration-tool",
        SURVEY,
        "tool_usage_research,outflow_to_work",
        &samples::survey_response(43),
    )
    .await;
    let both = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        BOTH,
        &samples::case_update(42, 1),
    )
    .await;
    let wellbeing = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "wellbeing",
        &samples::case_update(43, 1),
    )
    .await;
    // Allowed for the type, but no route serves it: rejected, never dropped.
    let unserved = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        "public_private_experience",
        &samples::case_update(44, 1),
    )
    .await;
    let last = publish_as(
        &env,
        "reintegration-tool",
        CASE,
        BOTH,
        &samples::case_update(45, 1),
    )
    .await;

    // Each tap's sequence up to `last`: had anything else been delivered, it
    // would be in the sequence.
    async fn sequence(tap: &mut Tap, last: &str) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let id = ingress_of(&tap.next(WAIT).await.expect("a copy"));
            let done = id == last;
            ids.push(id);
            if done {
                return ids;
            }
        }
    }
    assert_eq!(
        sequence(&mut future_smart, &last).await,
        [outflow_only.clone(), both.clone(), last.clone()]
    );
    assert_eq!(
        sequence(&mut robidus, &last).await,
        [both.clone(), wellbeing.clone(), last.clone()]
    );
    let first_research = research.next(WAIT).await.expect("the survey");
    assert_eq!(ingress_of(&first_research), survey_ok);

    for (id, reason) in [
        (&survey_legal, "purpose_not_allowed"),
        (&survey_mixed, "purpose_not_allowed"),
        (&unserved, "no_route"),
    ] {
        let dead = get_matching(&env, "dead.hub.router", WAIT, |m| {
            message_id(m).as_deref() == Some(id.as_str())
        })
        .await
        .unwrap_or_else(|| panic!("{id} not dead-lettered"));
        assert_eq!(header(&dead, envelope::H_REASON).as_deref(), Some(reason));
    }
    // The research queue never got a case update, nor a rejected survey.
    let last_survey = publish_as(
        &env,
        "reintegration-tool",
        SURVEY,
        "tool_usage_research",
        &samples::survey_response(44),
    )
    .await;
    assert_eq!(
        ingress_of(&research.next(WAIT).await.expect("a survey")),
        last_survey
    );
    running.stop().await;
    env.cleanup().await;
}

/// Every test BSN of the case samples used below.
fn case_bsns(seeds: &[u32]) -> Vec<String> {
    seeds
        .iter()
        .map(|s| samples::case_update(*s, 1).employee.unwrap().bsn)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processing_log_answers_a_subject_access_request_without_holding_a_bsn() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Operator]).await;
    let addr = running.grpc_addr.unwrap();
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let mut tap = Tap::new(&amqp, &["processor.future-smart"]).await.unwrap();
    let seeds = [51, 52];
    for seed in seeds {
        publish_as(
            &env,
            "reintegration-tool",
            CASE,
            BOTH,
            &samples::case_update(seed, 1),
        )
        .await;
    }
    for _ in seeds {
        tap.next(WAIT).await.expect("delivered");
    }
    let pool = env.pool().await;
    eventually("four log records", WAIT, || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processing_log")
                .fetch_one(&pool)
                .await
                .unwrap();
            (n == 4).then_some(())
        }
    })
    .await;
    // No BSN in clear anywhere the hub keeps state.
    for table in [
        "processing_log",
        "router_inbox",
        "case_deliveries",
        "inbox",
        "audit_log",
    ] {
        let dump: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        for bsn in case_bsns(&seeds) {
            assert!(!dump.contains(&bsn), "{table} holds a BSN in clear");
        }
    }

    let case = samples::case_update(51, 1);
    let bsn = case.employee.clone().unwrap().bsn;
    let hubctl = |token: &str, args: &[&str]| {
        std::process::Command::new(hubctl_binary())
            .args(args)
            .env("HUB_OPERATOR_URL", format!("http://{addr}"))
            .env("HUB_OPERATOR_TOKEN", token)
            .output()
            .unwrap()
    };
    let output =
        tokio::task::block_in_place(|| hubctl(PRIVACY_OFFICER_TOKEN, &["log", "--bsn", &bsn]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("2 deliveries"), "{stdout}");
    assert!(stdout.contains("reintegration-tool -> robidus"), "{stdout}");
    assert!(
        stdout.contains("reintegration-tool -> future-smart"),
        "the delivery without BSN is listed too:\n{stdout}"
    );
    assert!(!stdout.contains(&bsn));
    let future_smart_line = stdout
        .lines()
        .find(|l| l.contains("-> future-smart"))
        .unwrap();
    assert!(
        !future_smart_line.contains("bsn"),
        "future-smart got no BSN category: {future_smart_line}"
    );

    // By employee id, as CSV.
    let employee = case.employee.clone().unwrap().employee_id;
    let output = tokio::task::block_in_place(|| {
        hubctl(
            PRIVACY_OFFICER_TOKEN,
            &["log", "--employee-id", &employee, "--csv"],
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert_eq!(
        stdout.lines().count(),
        3,
        "header and two records:\n{stdout}"
    );

    // A viewer may not search by person; an invalid BSN is refused.
    let output = tokio::task::block_in_place(|| hubctl(VIEWER_TOKEN, &["log", "--bsn", &bsn]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PermissionDenied"));
    let output = tokio::task::block_in_place(|| {
        hubctl(PRIVACY_OFFICER_TOKEN, &["log", "--bsn", "123456789"])
    });
    assert!(String::from_utf8_lossy(&output.stderr).contains("InvalidArgument"));

    // The searches are audited, by pseudonym.
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'search_processing_log' AND actor = 'pia'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 2);

    tap.close().await;
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_unreachable_the_router_delivers_nothing_and_loses_nothing() {
    let env = TestEnv::new().await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let mut config = env.hub_config();
    config.database.url = config
        .database
        .url
        .replace("127.0.0.1:5432", &proxy.addr().to_string());
    let running = env.start_with(config, &[Component::Router]).await;
    let amqp = Amqp::connect(&env.amqp, "test-tap").await.unwrap();
    let mut tap = Tap::new(&amqp, &["processor.robidus", "processor.future-smart"])
        .await
        .unwrap();

    proxy.cut();
    const N: u32 = 20;
    let mut sent = BTreeSet::new();
    for seed in 0..N {
        sent.insert(
            publish_as(
                &env,
                "reintegration-tool",
                CASE,
                BOTH,
                &samples::case_update(600 + seed, 1),
            )
            .await,
        );
    }
    // Nothing may cross while the log cannot be written.
    assert!(
        tap.next(Duration::from_secs(3)).await.is_none(),
        "a copy crossed without a log record"
    );
    proxy.restore();

    let mut copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..2 * N {
        let d = tap
            .next(WAIT)
            .await
            .expect("every copy after the database is back");
        assert!(sent.contains(&ingress_of(&d)));
        copies
            .entry(d.routing_key.to_string())
            .or_default()
            .push(d.properties.message_id().as_ref().unwrap().to_string());
    }
    for (queue, ids) in &copies {
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            N as usize,
            "{queue}: every message exactly once"
        );
    }
    let pool = env.pool().await;
    let (records, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT egress_message_id) FROM processing_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (records, distinct),
        (i64::from(2 * N), i64::from(2 * N)),
        "logged exactly once"
    );
    tap.close().await;
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}
