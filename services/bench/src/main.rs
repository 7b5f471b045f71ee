//! `hub-bench`: figures, never assertions. Run in release mode:
//! `cargo run --release -p hub-bench -- minimiser`.

mod minimiser;

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
    /// Minimising a realistic case update for one route, per route.
    Minimiser(minimiser::Args),
}

fn main() -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; figures are only meaningful with --release");
    }
    match Cli::parse().command {
        Command::Minimiser(args) => {
            let report = minimiser::run(&args)?;
            print!("{}", report.table());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
            }
            Ok(())
        }
    }
}
