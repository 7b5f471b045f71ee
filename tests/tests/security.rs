//! Security: mTLS with certificates from `hub dev-certs` (bearer tokens as
//! the fallback), and size limits on every gRPC entry point.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hub::compose::Component;
use hub_core::tls::TlsFiles;
use hub_policy::samples;
use hub_proto::wens::v1::SubmitHireEventRequest;
use hub_proto::wens::v1::hire_event_service_client::HireEventServiceClient;
use hub_tests::env::party_token;
use hub_tests::grpc::{raw_unary, with_token};
use hub_tests::{TestEnv, hub_binary};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn dev_certs(env: &TestEnv) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-dev-certs-{}", env.id));
    let output = std::process::Command::new(hub_binary())
        .args(["dev-certs", "--out"])
        .arg(&dir)
        .env(
            "HUB_CATALOG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/catalog.toml"),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("HUB_TLS_CLIENT_CA="));
    dir
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    party: Option<&str>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(dir.join("ca.pem")).unwrap(),
        ))
        .domain_name("localhost");
    if let Some(party) = party {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(dir.join(format!("{party}.pem"))).unwrap(),
            std::fs::read(dir.join(format!("{party}-key.pem"))).unwrap(),
        ));
    }
    Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_identifies_parties_by_certificate_with_tokens_as_fallback() {
    let env = TestEnv::new().await;
    let dir = dev_certs(&env);
    let mut config = env.hub_config();
    config.tls = Some(TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
        client_ca: Some(dir.join("ca.pem")),
    });
    let running = env.start_with(config, &[Component::Gateway]).await;
    let addr = running.grpc_addr.unwrap();
    let event = || SubmitHireEventRequest {
        event: Some(samples::hire_event(301)),
    };

    // WenS's certificate alone is enough.
    let mut wens =
        HireEventServiceClient::new(tls_channel(addr, &dir, Some("wens")).await.unwrap());
    wens.submit_hire_event(event())
        .await
        .expect("wens by certificate");
    // Robidus's certificate gives Robidus's rights, not WenS's.
    let mut robidus =
        HireEventServiceClient::new(tls_channel(addr, &dir, Some("robidus")).await.unwrap());
    let status = robidus.submit_hire_event(event()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Without a certificate: a token still works; nothing at all does not.
    let mut anonymous = HireEventServiceClient::new(tls_channel(addr, &dir, None).await.unwrap());
    anonymous
        .submit_hire_event(with_token(event(), &party_token("wens")))
        .await
        .expect("token fallback");
    let status = anonymous.submit_hire_event(event()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // A plaintext client is not served.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        let status = HireEventServiceClient::new(plain)
            .submit_hire_event(with_token(event(), &party_token("wens")))
            .await
            .unwrap_err();
        assert_ne!(status.code(), Code::Ok);
    }
    running.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grpc_entry_point_refuses_oversized_requests_precisely() {
    let env = TestEnv::new().await;
    let running = env.start(&hub::compose::Component::ALL).await;
    let addr = running.grpc_addr.unwrap();
    let oversized = vec![0x0a; 2 * 1024 * 1024];
    for (path, token) in [
        (
            "/hub.wens.v1.HireEventService/SubmitHireEvent",
            party_token("wens"),
        ),
        (
            "/hub.reintegration.v1.CaseUpdateService/SubmitCaseUpdate",
            party_token("reintegration-tool"),
        ),
        (
            "/hub.processor.v1.CaseFeedService/SubmitReport",
            party_token("robidus"),
        ),
        (
            "/hub.dossier.v1.DossierService/GetDossier",
            hub_tests::env::ADMIN_TOKEN.to_owned(),
        ),
        (
            "/hub.operator.v1.OperatorService/SearchProcessingLog",
            hub_tests::env::PRIVACY_OFFICER_TOKEN.to_owned(),
        ),
    ] {
        let status = raw_unary(addr, path, &token, oversized.clone())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{path}: {status:?}");
        assert!(status.message().contains("too large"), "{path}: {status:?}");
    }
    // And the hub still serves normal requests.
    let mut client = HireEventServiceClient::new(hub_tests::grpc::channel(addr).await);
    client
        .submit_hire_event(with_token(
            SubmitHireEventRequest {
                event: Some(samples::hire_event(302)),
            },
            &party_token("wens"),
        ))
        .await
        .unwrap();
    running.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_talk_to_postgresql_over_tls_when_asked() {
    let env = TestEnv::new().await;
    let mut config = env.hub_config();
    config.database.url = format!("{}?sslmode=require", config.database.url);
    let running = env.start_with(config, &[Component::Router]).await;
    hub_tests::publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &samples::hire_event(303),
    )
    .await;
    let pool = env.pool().await;
    let database = env.database.url.rsplit('/').next().unwrap().to_owned();
    let (encrypted, total): (i64, i64) = hub_tests::eventually("the router's connections", std::time::Duration::from_secs(30), || {
        let pool = pool.clone();
        let database = database.clone();
        async move {
            let counts: (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            )
            .bind(&database)
            .fetch_one(&pool)
            .await
            .unwrap();
            (counts.1 > 0).then_some(counts)
        }
    })
    .await;
    assert_eq!(
        encrypted, total,
        "every connection of the router is encrypted"
    );
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}

/// The local RabbitMQ has no TLS listener, so a TLS-terminating proxy with a
/// server certificate from `hub dev-certs` stands in front of it: the
/// router connects with `amqps://` and `HUB_AMQP_TLS_CA`, routes and logs a
/// message; without the private CA the connection is refused with a
/// certificate error, never silently downgraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_talk_to_rabbitmq_over_tls_with_a_private_ca() {
    let env = TestEnv::new().await;
    let dir = dev_certs(&env);
    let broker: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = hub_tests::tls_proxy::TlsProxy::start(
        broker,
        &dir.join("server.pem"),
        &dir.join("server-key.pem"),
    )
    .await;
    let mut config = env.hub_config();
    config.amqp.url = format!(
        "amqps://guest:guest@localhost:{}/{}",
        proxy.addr().port(),
        env.vhost
    );

    // Without the private CA: the system roots do not know it.
    let refused = hub_core::amqp::Amqp::connect(&config.amqp, "tls-without-ca")
        .await
        .expect_err("an unknown CA must be refused");
    let message = refused.to_string();
    assert!(
        message.to_lowercase().contains("certificate") || message.contains("UnknownIssuer"),
        "the error names the certificate problem: {message}"
    );
    assert!(
        !message.contains("guest:guest"),
        "no password in errors: {message}"
    );
    assert_eq!(proxy.handshakes(), 0);

    // With it: the router works over TLS.
    config.amqp.tls_ca = Some(dir.join("ca.pem"));
    let running = env.start_with(config, &[Component::Router]).await;
    hub_tests::publish_as(
        &env,
        "wens",
        "wens.hire.v1",
        "appointment_preparation",
        &samples::hire_event(304),
    )
    .await;
    let pool = env.pool().await;
    let logged: i64 = hub_tests::eventually(
        "the hire event routed and logged over amqps",
        std::time::Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processing_log")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                (n > 0).then_some(n)
            }
        },
    )
    .await;
    assert_eq!(logged, 1, "one copy, to the dossier");
    assert!(
        proxy.handshakes() >= 1,
        "the router's connection went through TLS"
    );
    running.stop().await;
    pool.close().await;
    env.cleanup().await;
}
