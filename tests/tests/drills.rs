//! Fault drills: no message lost, none applied twice, when the router is
//! killed, RabbitMQ or PostgreSQL restart, a poison message sits in a queue,
//! or services get SIGTERM under load. Each drill runs alone (see
//! .config/nextest.toml), on loopback only, bounded in time and load, and
//! prints its figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hub::compose::Component;
use hub_policy::samples;
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_tests::amqp::{get_matching, header, message_id};
use hub_tests::env::party_token;
use hub_tests::grpc::{channel, with_token};
use hub_tests::process::{Figures, HubProcess};
use hub_tests::stream::{Effects, effects, publish_hires};
use hub_tests::{TestEnv, eventually};
use tokio::process::Command;
use tonic::Code;

const LONG: Duration = Duration::from_secs(600);

async fn wait_effects(
    pool: &sqlx::PgPool,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Effects) -> bool,
) -> Effects {
    eventually(what, timeout, || async {
        let e = effects(pool).await;
        done(&e).then_some(e)
    })
    .await
}

/// Waits for the first progress past `before`; returns the seconds it took.
async fn recovery(pool: &sqlx::PgPool, before: i64, since: Instant) -> f64 {
    wait_effects(
        pool,
        "progress after the fault",
        Duration::from_secs(120),
        |e| e.inbox > before,
    )
    .await;
    since.elapsed().as_secs_f64()
}

fn figures(sent: u64, e: &Effects, seconds_to_recover: f64) -> Figures {
    Figures {
        sent,
        delivered: u64::try_from(e.inbox).unwrap_or(0),
        duplicates_applied: u64::try_from(e.duplicate_entries + (e.log_records - e.log_distinct))
            .unwrap_or(0),
        lost: sent.saturating_sub(u64::try_from(e.dossiers).unwrap_or(0)),
        seconds_to_recover,
    }
}

/// Waits until all `expected` messages were applied, then prints the
/// drill's figures.
async fn all_applied(
    pool: &sqlx::PgPool,
    expected: u32,
    sent: u64,
    recovered: f64,
    drill: &str,
) -> (Figures, Effects) {
    let e = wait_effects(pool, "every message applied", LONG, |e| {
        e.inbox >= i64::from(expected)
    })
    .await;
    let f = figures(sent, &e, recovered);
    f.print(drill);
    (f, e)
}

fn assert_clean(f: &Figures, e: &Effects) {
    assert_eq!(f.lost, 0, "{f:?} {e:?}");
    assert_eq!(f.duplicates_applied, 0, "{f:?} {e:?}");
    assert_eq!(
        e.log_records, e.dossiers,
        "one log record per delivered hire event: {e:?}"
    );
}

async fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .await
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_the_router_while_20000_messages_flow() {
    const N: u32 = 20_000;
    let env = TestEnv::new().await;
    let dossier = env.start(&[Component::Dossier]).await;
    let mut router = HubProcess::start(&env, "router", &[]).await;
    let pool = env.pool().await;
    let sent = publish_hires(&env, 0..N, 500, Duration::ZERO, LONG).await;
    wait_effects(&pool, "a quarter logged", LONG, |e| {
        e.log_records >= i64::from(N / 4)
    })
    .await;
    router.signal("-9").await;
    let (code, _) = router.wait(Duration::from_secs(10)).await;
    assert_eq!(code, None, "killed by a signal");
    let at_kill = effects(&pool).await;
    let restarted = Instant::now();
    let mut router = HubProcess::start(&env, "router", &[]).await;
    let recovered = recovery(&pool, at_kill.inbox, restarted).await;
    let (f, e) = all_applied(&pool, N, sent, recovered, "kill -9 router").await;
    assert!(
        at_kill.inbox < i64::from(N),
        "the kill came while messages were still flowing"
    );
    assert_clean(&f, &e);
    assert_eq!(e.entries, 6 * e.dossiers);
    router.signal("-TERM").await;
    router.wait(Duration::from_secs(30)).await;
    dossier.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_rabbitmq_in_the_middle_of_a_stream() {
    const N: u32 = 2_000;
    let env = TestEnv::new().await;
    let running = env
        .start(&[Component::Gateway, Component::Router, Component::Dossier])
        .await;
    let addr = running.grpc_addr.unwrap();
    let pool = env.pool().await;
    // A stream of about 20 s: batches of 20 every 200 ms.
    let publisher = publish_hires(&env, 0..N, 20, Duration::from_millis(200), LONG);
    let fault = async {
        wait_effects(&pool, "the stream under way", LONG, |e| e.inbox >= 200).await;
        run("rabbitmqctl", &["stop_app"]).await;
        // While the broker is down the gateway never answers OK.
        let mut client = HireEventServiceClient::new(channel(addr).await);
        let status = client
            .submit_hire_event(with_token(
                SubmitHireEventRequest {
                    event: Some(samples::hire_event(N + 1)),
                },
                &party_token("wens"),
            ))
            .await
            .expect_err("no confirm, no OK");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = effects(&pool).await.inbox;
        run("rabbitmqctl", &["start_app"]).await;
        run("rabbitmqctl", &["await_startup"]).await;
        let up = Instant::now();
        recovery(&pool, before, up).await
    };
    let (sent, recovered) = tokio::join!(publisher, fault);
    let (f, e) = all_applied(&pool, N, sent, recovered, "restart RabbitMQ").await;
    assert_clean(&f, &e);
    assert!(
        recovered <= 30.0,
        "services recover within 30 s: {recovered:.1} s"
    );
    // The gateway works again.
    let mut client = HireEventServiceClient::new(channel(addr).await);
    client
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(samples::hire_event(N + 2)),
            },
            &party_token("wens"),
        ))
        .await
        .expect("OK once the broker is back");
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_postgresql_in_the_middle_of_a_stream() {
    const N: u32 = 2_000;
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Router, Component::Dossier]).await;
    let pool = env.pool().await;
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .max()
        .expect("a PostgreSQL cluster");
    let publisher = publish_hires(&env, 0..N, 20, Duration::from_millis(200), LONG);
    let fault = async {
        wait_effects(&pool, "the stream under way", LONG, |e| e.inbox >= 200).await;
        run(
            "pg_ctlcluster",
            &[
                "--skip-systemctl-redirect",
                &version,
                "main",
                "stop",
                "-m",
                "fast",
            ],
        )
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &version, "main", "start"],
        )
        .await;
        let up = Instant::now();
        let before = eventually("the database back", Duration::from_secs(60), || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox WHERE consumer = 'dossier'")
                .fetch_one(&pool)
                .await
                .ok()
        })
        .await;
        recovery(&pool, before, up).await
    };
    let (sent, recovered) = tokio::join!(publisher, fault);
    let (f, e) = all_applied(&pool, N, sent, recovered, "restart PostgreSQL").await;
    assert_clean(&f, &e);
    assert!(
        recovered <= 30.0,
        "services recover within 30 s: {recovered:.1} s"
    );
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_is_dead_lettered_after_the_limit_while_the_queue_flows() {
    let env = TestEnv::with(hub_tests::env::CATALOG, |amqp| amqp.delivery_limit = 3).await;
    let mut config = env.hub_config();
    config.database.lock_timeout_ms = 300;
    config.retry.max_elapsed = Duration::from_secs(1);
    let running = env
        .start_with(config, &[Component::Router, Component::Dossier])
        .await;
    let pool = env.pool().await;
    // A dossier whose row a stuck transaction holds: every update of it
    // times out on the lock, a transient failure that never clears.
    let poison_seed = 70_000;
    publish_hires(&env, poison_seed..poison_seed + 1, 1, Duration::ZERO, LONG).await;
    wait_effects(
        &pool,
        "the first version applied",
        Duration::from_secs(30),
        |e| e.inbox == 1,
    )
    .await;
    let mut stuck = pool.begin().await.unwrap();
    let number = hub_tests::stream::personnel_number(poison_seed);
    sqlx::query("SELECT 1 FROM dossiers WHERE personnel_number = $1 FOR UPDATE")
        .bind(&number)
        .execute(&mut *stuck)
        .await
        .unwrap();

    let mut again = samples::hire_event(poison_seed);
    again.event_id = "a-second-event".to_owned();
    let poison_id = hub_tests::publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &again,
    )
    .await;
    let poison_copy = hub_core::envelope::egress_message_id(&poison_id, "dossier.onboarding");
    // The queue keeps flowing meanwhile.
    let started = Instant::now();
    // The first version, the poison message, and 200 others.
    let sent = 2 + publish_hires(&env, 0..200, 50, Duration::ZERO, LONG).await;
    let e = wait_effects(
        &pool,
        "the other 200 applied",
        Duration::from_secs(120),
        |e| e.inbox >= 201,
    )
    .await;
    let dead = get_matching(
        &env,
        "dead.dossier.onboarding",
        Duration::from_secs(120),
        |m| message_id(m).as_deref() == Some(poison_copy.as_str()),
    )
    .await
    .expect("the poison message dead-lettered");
    assert_eq!(
        header(&dead, "x-hub-reason").as_deref(),
        Some("retries_exhausted")
    );
    let attempts: i64 = hub_core::amqp::headers::get_i64(
        dead.delivery.properties.headers().as_ref(),
        "x-hub-attempts",
    )
    .unwrap();
    assert!(attempts >= 3, "attempts {attempts}");
    assert!(
        header(&dead, "x-hub-detail").unwrap().contains("lock"),
        "the detail names the failure"
    );
    stuck.rollback().await.unwrap();
    let f = Figures {
        sent,
        delivered: u64::try_from(e.inbox).unwrap() + 1,
        duplicates_applied: u64::try_from(e.duplicate_entries).unwrap(),
        lost: 0,
        seconds_to_recover: started.elapsed().as_secs_f64(),
    };
    f.print("poison message (dead-lettered, counted as delivered)");
    assert_eq!(f.duplicates_applied, 0);
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_loses_nothing_and_applies_nothing_twice() {
    const N: u32 = 5_000;
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let mut router = HubProcess::start(&env, "router", &[]).await;
    let mut dossier = HubProcess::start(&env, "dossier", &[]).await;
    let sent = publish_hires(&env, 0..N, 500, Duration::ZERO, LONG).await;
    wait_effects(&pool, "a fifth applied", LONG, |e| {
        e.inbox >= i64::from(N / 5)
    })
    .await;
    router.signal("-TERM").await;
    dossier.signal("-TERM").await;
    let (router_code, router_took) = router.wait(Duration::from_secs(30)).await;
    let (dossier_code, dossier_took) = dossier.wait(Duration::from_secs(30)).await;
    assert_eq!(
        (router_code, dossier_code),
        (Some(0), Some(0)),
        "clean exits; logs: {} {}",
        router.output(),
        dossier.output()
    );
    assert!(
        router_took <= Duration::from_secs(15) && dossier_took <= Duration::from_secs(15),
        "within the grace period"
    );
    let stopped = effects(&pool).await;
    assert!(
        stopped.inbox < i64::from(N),
        "stopped while messages were still flowing"
    );
    let restarted = Instant::now();
    let mut router = HubProcess::start(&env, "router", &[]).await;
    let mut dossier = HubProcess::start(&env, "dossier", &[]).await;
    let recovered = recovery(&pool, stopped.inbox, restarted).await;
    let (f, e) = all_applied(&pool, N, sent, recovered, "SIGTERM under load").await;
    assert_clean(&f, &e);
    for process in [&router, &dossier] {
        process.signal("-TERM").await;
    }
    router.wait(Duration::from_secs(30)).await;
    dossier.wait(Duration::from_secs(30)).await;
    pool.close().await;
    env.cleanup().await;
}

/// Restores the broker's memory watermark even when the test fails.
struct Watermark;

impl Drop for Watermark {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["set_vm_memory_high_watermark", "0.4"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_alarm_makes_the_gateway_answer_resource_exhausted() {
    let env = TestEnv::new().await;
    let running = env.start(&[Component::Gateway]).await;
    let mut client = HireEventServiceClient::new(channel(running.grpc_addr.unwrap()).await);
    let submit = |seed| {
        with_token(
            SubmitHireEventRequest {
                event: Some(samples::hire_event(seed)),
            },
            &party_token("wens"),
        )
    };
    client
        .submit_hire_event(submit(1))
        .await
        .expect("OK before the alarm");
    let guard = Watermark;
    run(
        "rabbitmqctl",
        &["set_vm_memory_high_watermark", "0.0000001"],
    )
    .await;
    let status = client
        .submit_hire_event(submit(2))
        .await
        .expect_err("refused during the alarm");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    drop(guard);
    eventually("the alarm to clear", Duration::from_secs(60), || async {
        let nodes = env.api.nodes().await.ok()?;
        nodes.iter().all(|n| !n.mem_alarm).then_some(())
    })
    .await;
    let client = HireEventServiceClient::new(channel(running.grpc_addr.unwrap()).await);
    eventually("publishing to work again", Duration::from_secs(60), || {
        let mut client = client.clone();
        async move { client.submit_hire_event(submit(3)).await.ok() }
    })
    .await;
    running.stop().await;
    env.cleanup().await;
}
