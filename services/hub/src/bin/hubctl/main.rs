//! `hubctl`: the operators' command line. Catalog review works on files;
//! everything else talks to `OperatorService` over gRPC with an operator
//! token.

mod catalog;
mod dlq;
mod dossier;
mod log;
mod queues;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hubctl", version, about = "Operate the HR integration hub")]
struct Cli {
    /// Where OperatorService listens.
    #[arg(
        long,
        env = "HUB_OPERATOR_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    server: String,
    /// Your operator token (sent as a bearer token).
    #[arg(
        long,
        env = "HUB_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Review the policy catalog.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Every delivery about one person, from the processing log (subject
    /// access request; needs the privacy-officer role).
    Log(log::LogArgs),
    /// The personnel dossier: `sweep` moves dossiers due for the archive
    /// (records manager, HUB_ADMIN_TOKEN; `--server` names DossierService).
    Dossier(dossier::DossierArgs),
    /// Dead letters: list (by group), show (masked), retry, discard.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Every hub queue with its counts, consumers and rates; services and
    /// broker alarms.
    Queues,
}

/// A command's failure, with the exit code it maps to.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::new(1, error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    hub_core::install_crypto_provider();
    let result = match cli.command {
        Command::Catalog(command) => catalog::run(command),
        Command::Log(args) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(log::run(&cli.server, cli.token.as_deref(), args)),
            Err(e) => Err(Failure::from(e)),
        },
        Command::Dossier(args) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(dossier::run(&cli.server, args)),
            Err(e) => Err(Failure::from(e)),
        },
        Command::Dlq(command) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(dlq::run(&cli.server, cli.token.as_deref(), command)),
            Err(e) => Err(Failure::from(e)),
        },
        Command::Queues => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(queues::run(&cli.server, cli.token.as_deref())),
            Err(e) => Err(Failure::from(e)),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
