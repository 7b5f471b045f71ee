//! The harness of the end-to-end tests: every test gets its own RabbitMQ
//! vhost and its own PostgreSQL database, so tests run in parallel against
//! the real servers without seeing each other, and both are removed when the
//! test ends (also when it panics). Leftovers of killed runs older than two
//! hours are removed by the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod amqp;
pub mod env;
pub mod grpc;
pub mod process;
pub mod proxy;
pub mod stream;
pub mod tls_proxy;
pub mod webdriver;

pub use env::TestEnv;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some` or `timeout` passes; panics with
/// `what` on timeout. For waiting on effects without blind sleeps.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `hub` binary next to the test executable (built because the `hub`
/// package has integration tests). `HUB_BIN` overrides it.
#[must_use]
pub fn hub_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("HUB_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target directory");
    let bin = dir.join("hub");
    assert!(
        bin.exists(),
        "{} does not exist: build it with `cargo build -p hub` or set HUB_BIN",
        bin.display()
    );
    bin
}

/// The `hubctl` binary next to the test executable (`HUBCTL_BIN` overrides).
#[must_use]
pub fn hubctl_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("HUBCTL_BIN") {
        return path.into();
    }
    let bin = hub_binary().with_file_name("hubctl");
    assert!(
        bin.exists(),
        "{} does not exist: build it with `cargo build -p hub`",
        bin.display()
    );
    bin
}

/// `message` in the proto3 JSON mapping, as the schema of `message_type`.
pub fn to_json<M: prost::Message>(env: &TestEnv, message_type: &str, message: &M) -> Vec<u8> {
    let schema = env
        .catalog
        .message_type(message_type)
        .unwrap()
        .schema
        .clone();
    let mut dynamic = prost_reflect::DynamicMessage::new(schema);
    dynamic.transcode_from(message).unwrap();
    serde_json::to_vec(&dynamic).unwrap()
}

/// Publishes `message` (as JSON) to `hub.ingress` as AMQP user `party`,
/// declaring `purposes`; returns the ingress message id.
pub async fn publish_as<M: prost::Message>(
    env: &TestEnv,
    party: &str,
    message_type: &str,
    purposes: &str,
    message: &M,
) -> String {
    let ingress = amqp::Ingress::new(message_type, party, purposes);
    let json = to_json(env, message_type, message);
    let connection = amqp::PartyConnection::as_party(env, party).await;
    connection
        .publish(
            hub_core::envelope::INGRESS_EXCHANGE,
            message_type,
            &json,
            ingress.properties(),
        )
        .await
        .unwrap_or_else(|e| panic!("publishing {message_type} as {party}: {e}"));
    connection.close().await;
    ingress.message_id.unwrap()
}
