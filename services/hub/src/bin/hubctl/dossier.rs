//! `hubctl dossier sweep [--dry-run]`: asks `DossierService.SweepRetention`,
//! as the records manager (`HUB_ADMIN_TOKEN`), to move dossiers to the
//! archive twelve months after employment ended (art 17.2), keeping those
//! retained permanently (art 18.2.b.ii), and prints what moved (or would
//! move) and why, with counts.

use clap::{Args, Subcommand};
use hub_proto::dossier::v1::dossier_service_client::DossierServiceClient;
use hub_proto::dossier::v1::{SweepItem, SweepRetentionRequest};

use crate::Failure;

#[derive(Args)]
pub(crate) struct DossierArgs {
    /// The records manager's token (the hub's `admin` identity).
    #[arg(long, env = "HUB_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    #[command(subcommand)]
    command: DossierCommand,
}

#[derive(Subcommand)]
enum DossierCommand {
    /// Move dossiers due for the archive; `--dry-run` only reports.
    Sweep {
        /// Report what would move, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn print_items(title: &str, items: &[SweepItem]) {
    println!("{title} ({}):", items.len());
    for item in items {
        println!("  {}  {}", item.personnel_number, item.reason);
    }
}

pub(crate) async fn run(server: &str, args: DossierArgs) -> Result<(), Failure> {
    let token = args.admin_token.ok_or_else(|| {
        Failure::new(
            2,
            "set HUB_ADMIN_TOKEN (or --admin-token) to the records manager's token",
        )
    })?;
    let DossierCommand::Sweep { dry_run } = args.command;
    let channel = tonic::transport::Channel::from_shared(server.to_owned())
        .map_err(|e| Failure::new(2, format!("--server {server}: {e}")))?
        .connect()
        .await
        .map_err(|e| Failure::new(1, format!("cannot reach DossierService at {server}: {e}")))?;
    let mut client = DossierServiceClient::new(channel);
    let mut request = tonic::Request::new(SweepRetentionRequest { dry_run });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| Failure::new(2, "the token has characters a header cannot carry"))?,
    );
    let report = client
        .sweep_retention(request)
        .await
        .map_err(|status| Failure::new(1, format!("{:?}: {}", status.code(), status.message())))?
        .into_inner();
    let at = report
        .swept_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let (heading, verb) = if report.dry_run {
        (
            format!("dry run at {at}: nothing changed"),
            "would move to the archive",
        )
    } else {
        (format!("retention sweep at {at}"), "moved to the archive")
    };
    println!("{heading}");
    print_items(verb, &report.archived);
    print_items("retained permanently", &report.retained_permanently);
    println!(
        "not yet due (employment ended less than 12 months ago): {}",
        report.not_yet_due
    );
    println!(
        "totals: {} {}, retained permanently {}, not yet due {}",
        if report.dry_run {
            "would archive"
        } else {
            "archived"
        },
        report.archived.len(),
        report.retained_permanently.len(),
        report.not_yet_due
    );
    Ok(())
}
