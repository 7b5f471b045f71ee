//! `hub`: runs the hub's services (each alone or all in one process),
//! migrates the database, provisions the broker, and runs the demo.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use hub::compose::{Component, HubConfig, start};
use hub::demo::{self, DemoSettings};
use hub_core::amqp::consumer::RetryPolicy;
use hub_core::auth::Credentials;
use hub_core::config::{
    self, AmqpConfig, CatalogConfig, ConsoleConfig, DatabaseConfig, GrpcConfig, RabbitApiConfig,
    ShutdownConfig, TelemetryConfig,
};
use hub_core::provision::provision;
use hub_core::rabbit_api::RabbitApi;
use hub_core::shutdown::{self, Shutdown};
use hub_policy::Catalog;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "hub",
    version,
    about = "HR integration hub of the Dutch Ministry of Defence"
)]
struct Cli {
    #[command(flatten)]
    telemetry: TelemetryConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in one process.
    All(RunArgs),
    /// Run the gateway (gRPC ingest).
    Gateway(RunArgs),
    /// Run the router (policy enforcement).
    Router(RunArgs),
    /// Run the dossier service.
    Dossier(RunArgs),
    /// Run the operator service (OperatorService for hubctl and the console,
    /// the dead-letter keeper).
    Operator(RunArgs),
    /// Run the case feed (CaseFeedService for processors).
    Feed(RunArgs),
    /// Create the database when missing and apply the migrations.
    Migrate(MigrateArgs),
    /// Create the vhost, declare exchanges and queues, create party users.
    Provision(ProvisionArgs),
    /// Migrate, provision, start everything, push sample events and show
    /// where each field went.
    Demo(DemoArgs),
    /// Make a local CA, a server certificate and a client certificate per
    /// party (CN = party id), for the demo and the tests. Not for production.
    DevCerts(DevCertsArgs),
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    amqp: AmqpConfig,
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    catalog: CatalogConfig,
    #[command(flatten)]
    rabbit_api: RabbitApiConfig,
    #[command(flatten)]
    grpc: GrpcConfig,
    #[command(flatten)]
    shutdown: ShutdownConfig,
    #[command(flatten)]
    console: ConsoleConfig,
    /// Longest in-process retry of a transient failure before the message
    /// goes back to its queue, in seconds.
    #[arg(long, env = "HUB_RETRY_MAX_ELAPSED_SECS", default_value_t = 60)]
    retry_max_elapsed_secs: u64,
    /// How often dead-letter payloads past their retention are purged, in
    /// seconds.
    #[arg(long, env = "HUB_PURGE_INTERVAL_SECS", default_value_t = 60)]
    purge_interval_secs: u64,
    /// Serve `/metrics` and `/healthz` on this address, for a process that
    /// runs without the console (`hub router`, `hub gateway`, ...). The
    /// console (`hub operator`, `hub all`) serves them on HUB_CONSOLE_ADDR.
    #[arg(long, env = "HUB_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Args)]
struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseConfig,
}

#[derive(Args)]
struct ProvisionArgs {
    #[command(flatten)]
    amqp: AmqpConfig,
    #[command(flatten)]
    catalog: CatalogConfig,
    #[command(flatten)]
    rabbit_api: RabbitApiConfig,
}

#[derive(Args)]
struct DevCertsArgs {
    /// Directory to write the certificates and keys to.
    #[arg(long, default_value = ".hub/dev-certs")]
    out: std::path::PathBuf,
    /// Names the server certificate is valid for.
    #[arg(long = "host", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
    hosts: Vec<String>,
    #[command(flatten)]
    catalog: CatalogConfig,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    amqp: AmqpConfig,
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    catalog: CatalogConfig,
    #[command(flatten)]
    rabbit_api: RabbitApiConfig,
    /// How many hire events to submit.
    #[arg(long, default_value_t = 2)]
    hire_events: u32,
}

fn load_catalog(config: &CatalogConfig) -> anyhow::Result<Arc<Catalog>> {
    Ok(Arc::new(Catalog::load(&config.path)?))
}

fn credentials(catalog: &Catalog) -> anyhow::Result<Credentials> {
    let parties = catalog.parties().map(|p| p.id.as_str());
    let mut pairs =
        config::party_secrets_from_env("HUB_PARTY_TOKEN_", parties).map_err(anyhow::Error::msg)?;
    if let Ok(admin) = std::env::var("HUB_ADMIN_TOKEN") {
        pairs.insert("admin".to_owned(), admin);
    }
    if pairs.is_empty() {
        tracing::warn!(
            "no HUB_PARTY_TOKEN_<PARTY> or HUB_ADMIN_TOKEN is set: every gRPC call will be UNAUTHENTICATED"
        );
    }
    // With mTLS, a party may also prove itself by a client certificate
    // whose common name is its id.
    Ok(Credentials::new(pairs)
        .map_err(anyhow::Error::msg)?
        .with_certificate_identities(catalog.parties().map(|p| p.id.clone())))
}

/// Operators from `HUB_OPERATORS_FILE` or `HUB_OPERATORS`.
fn operators() -> anyhow::Result<hub_operator::Operators> {
    let operators = if let Ok(path) = std::env::var("HUB_OPERATORS_FILE") {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read HUB_OPERATORS_FILE {path}"))?;
        hub_operator::Operators::parse_file(&text).map_err(anyhow::Error::msg)?
    } else if let Ok(list) = std::env::var("HUB_OPERATORS") {
        hub_operator::Operators::parse_list(&list).map_err(anyhow::Error::msg)?
    } else {
        hub_operator::Operators::default()
    };
    if operators.is_empty() {
        tracing::warn!(
            "no operators configured (HUB_OPERATORS_FILE or HUB_OPERATORS): OperatorService refuses every call"
        );
    }
    Ok(operators)
}

/// The dossier's users from `HUB_DOSSIER_USERS_FILE` or `HUB_DOSSIER_USERS`
/// (`personnel_number:token`, comma- or line-separated), and the sweep
/// interval from `HUB_DOSSIER_SWEEP_INTERVAL_SECS`.
fn dossier_settings() -> anyhow::Result<hub_dossier::Settings> {
    let users = if let Ok(path) = std::env::var("HUB_DOSSIER_USERS_FILE") {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read HUB_DOSSIER_USERS_FILE {path}"))?;
        hub_dossier::parse_users(&text).map_err(anyhow::Error::msg)?
    } else if let Ok(list) = std::env::var("HUB_DOSSIER_USERS") {
        hub_dossier::parse_users(&list).map_err(anyhow::Error::msg)?
    } else {
        Credentials::default()
    };
    let sweep_interval = match std::env::var("HUB_DOSSIER_SWEEP_INTERVAL_SECS") {
        Ok(secs) => match secs.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Duration::from_secs(secs),
            _ => bail!("HUB_DOSSIER_SWEEP_INTERVAL_SECS must be a positive number of seconds"),
        },
        Err(_) => hub_dossier::DEFAULT_SWEEP_INTERVAL,
    };
    Ok(hub_dossier::Settings {
        users,
        sweep_interval,
    })
}

fn hub_config(args: &RunArgs) -> anyhow::Result<HubConfig> {
    let catalog = load_catalog(&args.catalog)?;
    let pseudonym_key = config::pseudonym_key_from_env()
        .map_err(anyhow::Error::msg)?
        .context(
            "HUB_PSEUDONYM_KEY is required (a secret of at least 16 bytes, or HUB_PSEUDONYM_KEY_FILE naming a file with it); \
             for a local try-out run `hub demo`, which generates one",
        )?;
    Ok(HubConfig {
        amqp: args.amqp.clone(),
        database: args.database.clone(),
        rabbit_api: args.rabbit_api.clone(),
        credentials: credentials(&catalog)?,
        operators: operators()?,
        catalog,
        pseudonym_key,
        max_grpc_message_bytes: args.grpc.max_message_bytes,
        tls: args.grpc.tls(),
        retry: RetryPolicy {
            max_elapsed: Duration::from_secs(args.retry_max_elapsed_secs),
            ..RetryPolicy::default()
        },
        purge_interval: Duration::from_secs(args.purge_interval_secs),
        grace: args.shutdown.grace(),
        dossier_settings: dossier_settings()?,
        console: Some(hub_operator::ConsoleSettings::from_config(&args.console)),
    })
}

async fn run_services(args: RunArgs, components: &[Component]) -> anyhow::Result<()> {
    let config = hub_config(&args)?;
    let shutdown = Shutdown::new();
    shutdown::cancel_on_signals(shutdown.clone());
    let needs_grpc = components.iter().any(|c| c.serves_grpc());
    let listener = if needs_grpc {
        Some(
            TcpListener::bind(args.grpc.addr)
                .await
                .with_context(|| format!("cannot listen on HUB_GRPC_ADDR {}", args.grpc.addr))?,
        )
    } else {
        None
    };
    let stop = shutdown.clone();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on HUB_METRICS_ADDR {addr}"))?;
            Some(tokio::spawn(hub_operator::metrics::serve(
                listener,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let running = start(&config, components, listener, shutdown).await?;
    tracing::info!(components = ?components, grpc = ?running.grpc_addr, "hub running");
    running.wait().await;
    stop.cancel();
    if let Some(metrics) = metrics {
        match metrics.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error, "metrics listener failed"),
            Err(error) => tracing::error!(error = %error, "metrics listener panicked"),
        }
    }
    tracing::info!("hub stopped");
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::All(args) => run_services(args, &Component::ALL).await,
        Command::Gateway(args) => run_services(args, &[Component::Gateway]).await,
        Command::Router(args) => run_services(args, &[Component::Router]).await,
        Command::Dossier(args) => run_services(args, &[Component::Dossier]).await,
        Command::Operator(args) => run_services(args, &[Component::Operator]).await,
        Command::Feed(args) => run_services(args, &[Component::Feed]).await,
        Command::Migrate(args) => {
            hub_core::db::migrate(&args.database).await?;
            println!("database {} is migrated", args.database.redacted_url());
            Ok(())
        }
        Command::Provision(args) => {
            let catalog = load_catalog(&args.catalog)?;
            let api = RabbitApi::new(
                &args.rabbit_api.url,
                &args.amqp.user(),
                &args.amqp.password(),
            )
            .map_err(anyhow::Error::msg)?;
            let parties = catalog.parties().map(|p| p.id.as_str());
            let passwords = config::party_secrets_from_env("HUB_PARTY_PASSWORD_", parties)
                .map_err(anyhow::Error::msg)?;
            let settings = hub_router::topology_settings(&args.amqp, &catalog);
            let report = provision(&args.amqp, &api, &catalog, &settings, &passwords)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "vhost {}: {} queues declared",
                report.vhost,
                report.queues.len()
            );
            for grant in &report.users {
                println!(
                    "user {}: configure {} write {} read {}",
                    grant.user, grant.configure, grant.write, grant.read
                );
            }
            for party in &report.skipped {
                println!(
                    "user {party}: skipped, set HUB_PARTY_PASSWORD_{} to create it",
                    config::party_env_suffix(party)
                );
            }
            Ok(())
        }
        Command::DevCerts(args) => {
            let catalog = load_catalog(&args.catalog)?;
            let parties: Vec<String> = catalog
                .parties()
                .filter(|p| !p.hub_service)
                .map(|p| p.id.clone())
                .collect();
            let certs = hub_core::tls::dev_certs(&args.out, &args.hosts, &parties)
                .map_err(anyhow::Error::msg)?;
            println!("CA:     {}", certs.ca.display());
            println!(
                "server: {} {}",
                certs.server.0.display(),
                certs.server.1.display()
            );
            for (party, cert, key) in &certs.parties {
                println!("party {party}: {} {}", cert.display(), key.display());
            }
            println!(
                "serve with: HUB_TLS_CERT={} HUB_TLS_KEY={} HUB_TLS_CLIENT_CA={}",
                certs.server.0.display(),
                certs.server.1.display(),
                certs.ca.display()
            );
            Ok(())
        }
        Command::Demo(args) => {
            if args.hire_events == 0 {
                bail!("--hire-events must be at least 1");
            }
            let settings = DemoSettings {
                amqp: args.amqp,
                database: args.database,
                rabbit_api: args.rabbit_api,
                catalog: load_catalog(&args.catalog)?,
                hire_events: args.hire_events,
            };
            let mut stdout = std::io::stdout();
            demo::run(settings, &mut stdout).await
        }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // The demo's report is the output; its logs stay quiet unless asked for.
    if matches!(cli.command, Command::Demo(_))
        && std::env::var_os("HUB_LOG").is_none()
        && cli.telemetry.filter == "info"
    {
        cli.telemetry.filter = "warn".to_owned();
    }
    if let Err(error) = hub_core::telemetry::init(&cli.telemetry) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    hub_core::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
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
