//! The hub's services as child processes (release build next to this
//! binary), and their peak resident memory.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::env::BenchEnv;

/// A running `hub <command>`.
pub struct Service {
    pub name: String,
    child: Child,
}

/// The `hub` binary next to this one.
pub fn hub_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("hub");
    anyhow::ensure!(
        bin.exists(),
        "{} missing: cargo build --release -p hub -p hub-bench",
        bin.display()
    );
    Ok(bin)
}

impl Service {
    pub fn start(
        env: &BenchEnv,
        command: &str,
        grpc_addr: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(hub_binary()?);
        cmd.arg(command)
            .env("HUB_AMQP_URL", &env.amqp.url)
            .env("HUB_AMQP_MAX_LENGTH", env.amqp.max_length.to_string())
            .env("HUB_DATABASE_URL", &env.database.url)
            .env("HUB_CATALOG", &env.catalog_path)
            .env("HUB_PSEUDONYM_KEY", "bench-pseudonym-key-0123456789")
            .env("HUB_GRPC_ADDR", grpc_addr)
            .env("HUB_CONSOLE_ADDR", "127.0.0.1:0");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Self::spawn(command, cmd)
    }

    /// `hub-bench relay` into `vhost_url` (see [`crate::relay`]).
    pub fn start_relay(vhost_url: &str, prefetch: u16, max_length: u32) -> anyhow::Result<Self> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("relay")
            .arg("--amqp-url")
            .arg(vhost_url)
            .arg("--prefetch")
            .arg(prefetch.to_string())
            .arg("--max-length")
            .arg(max_length.to_string());
        Self::spawn("relay", cmd)
    }

    /// Starts `cmd` quietly (warnings and errors on the bench's stderr),
    /// killed when dropped.
    fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<Self> {
        cmd.env("HUB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        Ok(Self {
            name: name.to_owned(),
            child: cmd.spawn()?,
        })
    }

    /// Process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident set size (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait()).await;
    }
}
