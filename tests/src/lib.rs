//! The harness of the end-to-end tests: every test gets its own RabbitMQ
//! vhost and its own PostgreSQL database, so tests run in parallel against
//! the real servers without seeing each other, and both are removed when the
//! test ends (also when it panics). Leftovers of killed runs older than two
//! hours are removed by the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod amqp;
pub mod env;
pub mod grpc;

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
