//! `hubctl dlq list|show|retry|discard`: dead letters over
//! `OperatorService`. Payload values are masked unless a privacy officer
//! asks `show --reveal --reason ...` (audited by the hub).

use std::io::{IsTerminal, Write};

use clap::{Args, Subcommand};
use hub_proto::operator::v1 as pb;
use hub_proto::operator::v1::operator_service_client::OperatorServiceClient;
use tonic::transport::Channel;

use crate::Failure;

mod show;

/// How masked values are shown (the same for every value).
pub(crate) const MASK: &str = "••••••";
/// How long connecting to `OperatorService` may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a call may take (the overview asks the management API, which
/// may be slow under load).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Subcommand)]
pub(crate) enum DlqCommand {
    /// Open dead letters by group; with --queue and --failure (and --type),
    /// the dead letters of that group.
    List(ListArgs),
    /// One dead letter: metadata and its payload's fields with their data
    /// categories, values masked.
    Show(ShowArgs),
    /// Republish dead letters to hub.ingress, so the current catalog decides
    /// again (operator role). Shows progress.
    Retry(RetryArgs),
    /// Drop dead letters with a reason: the payload is removed, the
    /// metadata kept (operator role).
    Discard(DiscardArgs),
}

#[derive(Args)]
pub(crate) struct GroupArgs {
    /// The group's origin queue (e.g. hub.router).
    #[arg(long)]
    queue: Option<String>,
    /// The group's failure reason (`x-hub-reason` or the broker's, e.g.
    /// no_route, delivery_limit).
    #[arg(long)]
    failure: Option<String>,
    /// The group's message type (leave out for dead letters without one).
    #[arg(long = "type")]
    message_type: Option<String>,
}

impl GroupArgs {
    fn key(&self) -> Option<pb::DeadLetterGroupKey> {
        match (&self.queue, &self.failure) {
            (Some(queue), Some(reason)) => Some(pb::DeadLetterGroupKey {
                origin_queue: queue.clone(),
                reason: reason.clone(),
                message_type: self.message_type.clone().unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    group: GroupArgs,
    /// Dead letters in this state: open, retried, discarded, purged.
    #[arg(long, default_value = "open")]
    state: String,
    /// At most this many dead letters.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

#[derive(Args)]
pub(crate) struct ShowArgs {
    /// The dead letter's id.
    pub(crate) id: String,
    /// Show the values (privacy-officer role; needs --reason; audited).
    #[arg(long, requires = "reason")]
    pub(crate) reveal: bool,
    /// Why you need the values (recorded in the audit log).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Args)]
pub(crate) struct RetryArgs {
    /// Dead-letter ids; or select a whole group with --queue and --failure.
    ids: Vec<String>,
    #[command(flatten)]
    group: GroupArgs,
    /// Dead letters per batch.
    #[arg(long, default_value_t = 50)]
    batch_size: u32,
    /// Republished messages per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// A note kept with each retried dead letter and in the audit log.
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(Args)]
pub(crate) struct DiscardArgs {
    /// Dead-letter ids; or select a whole group with --queue and --failure.
    ids: Vec<String>,
    #[command(flatten)]
    group: GroupArgs,
    /// Why they are discarded (kept with each, and in the audit log).
    #[arg(long)]
    reason: String,
}

/// A connected client and the caller's token.
pub(crate) struct Client {
    inner: OperatorServiceClient<Channel>,
    token: String,
}

impl Client {
    /// Connects to `server` with the operator `token`.
    pub(crate) async fn connect(server: &str, token: Option<&str>) -> Result<Self, Failure> {
        let token = token.ok_or_else(|| {
            Failure::new(
                2,
                "set HUB_OPERATOR_TOKEN (or --token) to your operator token",
            )
        })?;
        let channel = Channel::from_shared(server.to_owned())
            .map_err(|e| Failure::new(2, format!("--server {server}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            // Bounds each call until its answer starts: a retry's progress
            // stream then runs as long as the job does.
            .timeout(CALL_TIMEOUT)
            .connect()
            .await
            .map_err(|e| {
                Failure::new(1, format!("cannot reach OperatorService at {server}: {e}"))
            })?;
        Ok(Self {
            inner: OperatorServiceClient::new(channel),
            token: token.to_owned(),
        })
    }

    /// A request carrying the token.
    pub(crate) fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Failure> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .map_err(|_| Failure::new(2, "the token has characters a header cannot carry"))?,
        );
        Ok(request)
    }

    /// The gRPC client.
    pub(crate) fn rpc(&mut self) -> &mut OperatorServiceClient<Channel> {
        &mut self.inner
    }
}

/// A gRPC status as a failure: its code and message.
pub(crate) fn status(status: tonic::Status) -> Failure {
    Failure::new(1, format!("{:?}: {}", status.code(), status.message()))
}

/// A timestamp as RFC 3339 (seconds), or `-`.
pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map_or_else(
            || "-".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

/// Prints rows as columns padded to the widest cell.
pub(crate) fn table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn selection(ids: &[String], group: &GroupArgs) -> Result<pb::DeadLetterSelection, Failure> {
    let kind = match (ids.is_empty(), group.key()) {
        (false, None) => {
            pb::dead_letter_selection::Kind::Ids(pb::DeadLetterIds { ids: ids.to_vec() })
        }
        (true, Some(key)) => pb::dead_letter_selection::Kind::Group(key),
        _ => {
            return Err(Failure::new(
                2,
                "give dead-letter ids, or a group with --queue and --failure (and --type)",
            ));
        }
    };
    Ok(pb::DeadLetterSelection { kind: Some(kind) })
}

fn state(name: &str) -> Result<pb::DeadLetterState, Failure> {
    match name {
        "open" => Ok(pb::DeadLetterState::Open),
        "retried" => Ok(pb::DeadLetterState::Retried),
        "discarded" => Ok(pb::DeadLetterState::Discarded),
        "purged" => Ok(pb::DeadLetterState::Purged),
        other => Err(Failure::new(
            2,
            format!("unknown state `{other}` (open, retried, discarded, purged)"),
        )),
    }
}

pub(crate) async fn run(
    server: &str,
    token: Option<&str>,
    command: DlqCommand,
) -> Result<(), Failure> {
    let mut client = Client::connect(server, token).await?;
    match command {
        DlqCommand::List(args) => list(&mut client, args).await,
        DlqCommand::Show(args) => show::run(&mut client, args).await,
        DlqCommand::Retry(args) => retry(&mut client, args).await,
        DlqCommand::Discard(args) => {
            let selection = selection(&args.ids, &args.group)?;
            let request = client.request(pb::DiscardDeadLettersRequest {
                selection: Some(selection),
                reason: args.reason,
            })?;
            let done = client
                .rpc()
                .discard_dead_letters(request)
                .await
                .map_err(status)?
                .into_inner();
            println!(
                "discarded {}, skipped {} (not open)",
                done.discarded, done.skipped
            );
            Ok(())
        }
    }
}

async fn list(client: &mut Client, args: ListArgs) -> Result<(), Failure> {
    let state = state(&args.state)?;
    if args.group.key().is_none() && state == pb::DeadLetterState::Open {
        let request = client.request(pb::ListDeadLetterGroupsRequest {})?;
        let groups = client
            .rpc()
            .list_dead_letter_groups(request)
            .await
            .map_err(status)?
            .into_inner()
            .groups;
        println!("{} groups of open dead letters", groups.len());
        let mut rows = vec![
            [
                "queue",
                "reason",
                "type",
                "open",
                "with payload",
                "first seen",
                "last seen",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for g in &groups {
            let key = g.key.clone().unwrap_or_default();
            rows.push(vec![
                key.origin_queue,
                key.reason,
                if key.message_type.is_empty() {
                    "-".to_owned()
                } else {
                    key.message_type
                },
                g.count.to_string(),
                g.retriable.to_string(),
                time(g.first_seen.as_ref()),
                time(g.last_seen.as_ref()),
            ]);
        }
        table(&rows);
        return Ok(());
    }
    let request = client.request(pb::ListDeadLettersRequest {
        group: args.group.key(),
        state: state.into(),
        limit: args.limit,
    })?;
    let listing = client
        .rpc()
        .list_dead_letters(request)
        .await
        .map_err(status)?
        .into_inner();
    println!(
        "{} {} dead letters ({} shown)",
        listing.total,
        args.state,
        listing.dead_letters.len()
    );
    let mut rows = vec![
        [
            "id",
            "queue",
            "reason",
            "type",
            "message id",
            "source",
            "attempts",
            "last failure",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for d in &listing.dead_letters {
        let key = d.key.clone().unwrap_or_default();
        rows.push(vec![
            d.id.clone(),
            key.origin_queue,
            key.reason,
            key.message_type,
            d.message_id.clone(),
            d.source.clone(),
            d.attempts.to_string(),
            time(d.last_failure.as_ref().or(d.dead_lettered_at.as_ref())),
        ]);
    }
    table(&rows);
    Ok(())
}

/// Draws the progress: a bar on a terminal, a line per update otherwise.
fn draw(p: &pb::RetryDeadLettersResponse, terminal: bool) {
    let processed = p.retried + p.skipped + p.failed;
    let mut err = std::io::stderr();
    if terminal {
        let width = 30u32;
        let filled = (processed.min(p.total) * width)
            .checked_div(p.total)
            .unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let _ = write!(
            err,
            "\r[{bar}] {processed}/{} retried {} skipped {} failed {}",
            p.total, p.retried, p.skipped, p.failed
        );
        if p.done {
            let _ = writeln!(err);
        }
    } else {
        let _ = writeln!(
            err,
            "progress {processed}/{} retried {} skipped {} failed {}",
            p.total, p.retried, p.skipped, p.failed
        );
    }
    let _ = err.flush();
}

async fn retry(client: &mut Client, args: RetryArgs) -> Result<(), Failure> {
    let selection = selection(&args.ids, &args.group)?;
    let request = client.request(pb::RetryDeadLettersRequest {
        selection: Some(selection),
        batch_size: args.batch_size,
        rate_per_second: args.rate,
        note: args.reason,
    })?;
    let mut stream = client
        .rpc()
        .retry_dead_letters(request)
        .await
        .map_err(status)?
        .into_inner();
    let terminal = std::io::stderr().is_terminal();
    let mut last = None;
    while let Some(progress) = stream.message().await.map_err(status)? {
        draw(&progress, terminal);
        last = Some(progress);
    }
    let last = last.ok_or_else(|| Failure::new(1, "the hub sent no progress"))?;
    println!(
        "job {}: retried {} of {}, skipped {}, failed {}",
        last.job_id, last.retried, last.total, last.skipped, last.failed
    );
    if !last.done {
        return Err(Failure::new(
            1,
            "the connection ended before the job did; it goes on in the hub",
        ));
    }
    if !last.error.is_empty() {
        return Err(Failure::new(1, last.error));
    }
    if last.failed > 0 {
        return Err(Failure::new(
            1,
            format!("{} were not retried and stay open", last.failed),
        ));
    }
    Ok(())
}
