//! `hubctl log --bsn N | --employee-id X`.

use clap::{ArgGroup, Args};
use hub_proto::operator::v1::operator_service_client::OperatorServiceClient;
use hub_proto::operator::v1::search_processing_log_request::Subject;
use hub_proto::operator::v1::{LoggedDelivery, SearchProcessingLogRequest};

use crate::Failure;

#[derive(Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["bsn", "employee_id"])))]
pub(crate) struct LogArgs {
    /// The person's BSN (never stored: the hub computes its pseudonym).
    #[arg(long)]
    bsn: Option<String>,
    /// The person's employee id.
    #[arg(long)]
    employee_id: Option<String>,
    /// Why you search (recorded in the audit log).
    #[arg(long, default_value = "subject access request")]
    reason: String,
    /// At most this many records.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Print CSV (for answering an access request) instead of a table.
    #[arg(long)]
    csv: bool,
}

fn time(d: &LoggedDelivery) -> String {
    d.logged_at
        .as_ref()
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub(crate) async fn run(server: &str, token: Option<&str>, args: LogArgs) -> Result<(), Failure> {
    let token = token.ok_or_else(|| {
        Failure::new(
            2,
            "set HUB_OPERATOR_TOKEN (or --token) to your operator token",
        )
    })?;
    let subject = match (args.bsn, args.employee_id) {
        (Some(bsn), _) => Subject::Bsn(bsn),
        (None, Some(id)) => Subject::EmployeeId(id),
        (None, None) => return Err(Failure::new(2, "give --bsn or --employee-id")),
    };
    let channel = tonic::transport::Channel::from_shared(server.to_owned())
        .map_err(|e| Failure::new(2, format!("--server {server}: {e}")))?
        .connect()
        .await
        .map_err(|e| Failure::new(1, format!("cannot reach OperatorService at {server}: {e}")))?;
    let mut client = OperatorServiceClient::new(channel);
    let mut request = tonic::Request::new(SearchProcessingLogRequest {
        subject: Some(subject),
        reason: args.reason,
        limit: args.limit,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| Failure::new(2, "the token has characters a header cannot carry"))?,
    );
    let response = client
        .search_processing_log(request)
        .await
        .map_err(|status| Failure::new(1, format!("{:?}: {}", status.code(), status.message())))?
        .into_inner();
    if args.csv {
        println!("{}", hub_operator::search::CSV_HEADER);
        for d in &response.deliveries {
            let row = [
                time(d),
                d.message_type.clone(),
                d.register_activity.clone(),
                d.purposes.join(";"),
                d.legal_basis.clone(),
                d.source.clone(),
                d.recipient.clone(),
                d.categories.join(";"),
                d.fields_delivered.to_string(),
                d.fields_removed.to_string(),
                d.catalog_version.clone(),
                d.trace_id.clone(),
                d.ingress_message_id.clone(),
            ];
            println!("{}", hub_operator::search::csv_record(&row));
        }
    } else {
        println!("{} deliveries", response.deliveries.len());
        for d in &response.deliveries {
            println!(
                "{}  {}  {} -> {}  purposes: {}  categories: {}  ({} fields delivered, {} removed)  basis: {}",
                time(d),
                d.message_type,
                d.source,
                d.recipient,
                d.purposes.join(","),
                d.categories.join(","),
                d.fields_delivered,
                d.fields_removed,
                d.legal_basis
            );
        }
    }
    Ok(())
}
