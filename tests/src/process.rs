//! The hub's services as child processes, for the drills that kill them or
//! send them SIGTERM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::TestEnv;
use crate::env::{ADMIN_TOKEN, party_token};

/// A `hub <command>` child process whose output goes to a log file.
pub struct HubProcess {
    child: Child,
    /// Where its stdout and stderr went.
    pub log: PathBuf,
}

impl HubProcess {
    /// Starts `hub <command>` (`router`, `dossier`, ...) against `env`.
    pub async fn start(env: &TestEnv, command: &str, extra: &[(&str, String)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "hub-{}-{command}-{}.log",
            env.id,
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(crate::hub_binary());
        cmd.arg(command)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HUB_AMQP_URL", &env.amqp.url)
            .env(
                "HUB_AMQP_DELIVERY_LIMIT",
                env.amqp.delivery_limit.to_string(),
            )
            .env("HUB_AMQP_MAX_LENGTH", env.amqp.max_length.to_string())
            .env("HUB_AMQP_PREFETCH", env.amqp.prefetch.to_string())
            .env("HUB_DATABASE_URL", &env.database.url)
            .env(
                "HUB_DATABASE_MAX_CONNECTIONS",
                env.database.max_connections.to_string(),
            )
            .env(
                "HUB_CATALOG",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/catalog.toml"),
            )
            .env("HUB_PSEUDONYM_KEY", "test-pseudonym-key-0123456789")
            .env("HUB_GRPC_ADDR", "127.0.0.1:0")
            .env("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HUB_PARTY_TOKEN_WENS", party_token("wens"))
            .env("HUB_RETRY_MAX_ELAPSED_SECS", "20")
            .env("HUB_SHUTDOWN_GRACE_SECS", "10")
            .env("HUB_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        for (key, value) in extra {
            cmd.env(key, value);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting hub {command}: {e}"));
        Self { child, log }
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> i32 {
        self.child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0)
    }

    /// Sends a signal (`-9`, `-TERM`) with `kill`.
    pub async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.pid().to_string())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits for the process to exit, at most `timeout`; returns its exit
    /// code (`None` when it was killed by a signal) and how long it took.
    pub async fn wait(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the process did not exit within {timeout:?}; log: {}",
                    self.log.display()
                )
            })
            .unwrap();
        (status.code(), started.elapsed())
    }

    /// The log so far.
    #[must_use]
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What a drill measured; printed by every drill.
#[derive(Debug, Default)]
pub struct Figures {
    /// Messages published and confirmed by the broker.
    pub sent: u64,
    /// Messages whose effect is there.
    pub delivered: u64,
    /// Effects applied more than once.
    pub duplicates_applied: u64,
    /// Confirmed messages without effect.
    pub lost: u64,
    /// From the end of the fault to the first progress after it.
    pub seconds_to_recover: f64,
}

impl Figures {
    /// Prints the figures in one line (nextest shows them with --no-capture).
    pub fn print(&self, drill: &str) {
        println!(
            "drill {drill}: sent={} delivered={} duplicates_applied={} lost={} seconds_to_recover={:.1}",
            self.sent, self.delivered, self.duplicates_applied, self.lost, self.seconds_to_recover
        );
    }
}
