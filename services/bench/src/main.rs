//! `hub-bench`: figures, never assertions. Build and run in release mode:
//!
//! ```sh
//! cargo build --release -p hub -p hub-bench
//! target/release/hub-bench all --json bench.json
//! ```
//!
//! `all` measures, in one run and against the same RabbitMQ and PostgreSQL:
//! the raw broker (publisher with confirms into a quorum queue, consumer
//! with acks, case-update-sized messages, the hub's prefetch), the hub
//! (case updates published to `hub.ingress` for both processors' purposes,
//! the router as its own process, both processor queues drained, the
//! processing log written) at saturation and at a fixed 1,000 messages per
//! second, the relay (the hub's AMQP path without its work, see
//! [`relay`]) the same two ways, gRPC ingest (`SubmitCaseUpdate`,
//! confirmed), the minimiser, where the CPU went, and each service's peak
//! resident memory.

mod cpu;
mod env;
mod flows;
mod minimiser;
mod procs;
mod relay;
mod report;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hub-bench",
    about = "Benchmarks of the HR integration hub (prints figures)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything, in one run: raw broker, hub, gRPC ingest, minimiser, memory.
    All(flows::Args),
    /// Minimising a realistic case update for one route, per route.
    Minimiser(minimiser::Args),
    /// The hub's AMQP path without its work (started by `all`).
    #[command(hide = true)]
    Relay(relay::Args),
}

fn main() -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; figures are only meaningful with --release");
    }
    hub_core::install_crypto_provider();
    match Cli::parse().command {
        Command::Minimiser(args) => {
            let report = minimiser::run(&args)?;
            print!("{}", report.table());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            Ok(())
        }
        Command::All(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(flows::all(args))
        }
        Command::Relay(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(relay::run(args))
        }
    }
}
