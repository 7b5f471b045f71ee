//! The `CaseFeedService` RPCs.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use hub_core::amqp::Amqp;
use hub_core::auth::Credentials;
use hub_core::shutdown::Shutdown;
use hub_gateway::{Ingest, Submission, traceparent};
use hub_policy::{Catalog, payload};
use hub_proto::processor::v1::case_feed_service_server::CaseFeedService;
use hub_proto::processor::v1::{
    AckRequest, AckResponse, SubmitReportRequest, SubmitReportResponse, SubscribeRequest,
    SubscribeResponse,
};
use lapin::options::BasicAckOptions;
use prost::Message;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::subscription::{self, Pending};

const REPORT: &str = "processor.report.v1";
const DEFAULT_IN_FLIGHT: u32 = 32;
const MAX_IN_FLIGHT: u32 = 1_000;

pub(crate) struct Feed {
    amqp: Amqp,
    pool: PgPool,
    catalog: Arc<Catalog>,
    credentials: Credentials,
    ingest: Ingest,
    pending: Pending,
    shutdown: Shutdown,
}

impl Feed {
    pub(crate) fn new(
        amqp: Amqp,
        pool: PgPool,
        catalog: Arc<Catalog>,
        credentials: Credentials,
        ingest: Ingest,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            amqp,
            pool,
            catalog,
            credentials,
            ingest,
            pending: Pending::default(),
            shutdown,
        }
    }

    /// The purposes a party's reports serve by default: those of the routes
    /// it receives that the report type allows.
    fn default_report_purposes(&self, party: &str) -> Vec<String> {
        let Some(report) = self.catalog.message_type(REPORT) else {
            return Vec::new();
        };
        let served: BTreeSet<&String> = self
            .catalog
            .routes()
            .iter()
            .filter(|r| r.recipient == party)
            .flat_map(|r| r.purposes.iter())
            .collect();
        report
            .purposes
            .iter()
            .filter(|p| served.contains(p))
            .cloned()
            .collect()
    }
}

type Stream = ReceiverStream<Result<SubscribeResponse, Status>>;

#[tonic::async_trait]
impl CaseFeedService for Feed {
    type SubscribeStream = Stream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Stream>, Status> {
        let party = self.credentials.authenticate(&request)?;
        let queues: Vec<String> = self
            .catalog
            .queues_of(&party)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if queues.is_empty() {
            return Err(Status::permission_denied(format!(
                "`{party}` receives no queue"
            )));
        }
        let wanted = request.into_inner().max_in_flight;
        let max_in_flight = if wanted == 0 {
            DEFAULT_IN_FLIGHT
        } else {
            wanted.min(MAX_IN_FLIGHT)
        };
        let (tx, rx) = mpsc::channel(usize::try_from(max_in_flight).unwrap_or(32));
        let subscription = subscription::Subscription {
            party,
            queues,
            max_in_flight: u16::try_from(max_in_flight).unwrap_or(u16::MAX),
            catalog: self.catalog.clone(),
            pending: self.pending.clone(),
            shutdown: self.shutdown.clone(),
        };
        subscription::open(&self.amqp, subscription, tx).await?;
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let party = self.credentials.authenticate(&request)?;
        let message_id = request.into_inner().message_id;
        let acker = self
            .pending
            .lock()
            .map_err(|_| Status::internal("feed state poisoned"))?
            .remove(&(party.clone(), message_id.clone()))
            .map(|(_, acker)| acker);
        let Some(acker) = acker else {
            return Err(Status::not_found(
                "no unacked message with that id on your open subscriptions (already acked, or the subscription ended)",
            ));
        };
        match acker.ack(BasicAckOptions::default()).await {
            Ok(true) => {
                tracing::debug!(party = %party, message_id = %message_id, "acked");
                Ok(Response::new(AckResponse {}))
            }
            Ok(false) | Err(_) => Err(Status::unavailable(
                "the subscription's channel is gone; the message comes again on the next subscription",
            )),
        }
    }

    async fn submit_report(
        &self,
        request: Request<SubmitReportRequest>,
    ) -> Result<Response<SubmitReportResponse>, Status> {
        let party = self.ingest.caller(&request)?;
        let trace = traceparent(&request);
        let request = request.into_inner();
        let Some(report) = request.report else {
            return Err(hub_core::grpc::invalid_argument(&[
                hub_policy::FieldViolation {
                    field: "report".to_owned(),
                    description: "is required".to_owned(),
                },
            ]));
        };
        let violations = payload::validate_processor_report(&report, Utc::now());
        if violations.is_empty() {
            // Fast feedback; the router checks the same again.
            let delivered: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM case_deliveries WHERE case_id = $1 AND recipient = $2)",
            )
            .bind(&report.case_id)
            .bind(&party)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "case lookup failed");
                Status::unavailable("the case register is not available; retry later")
            })?;
            if !delivered {
                return Err(Status::failed_precondition(format!(
                    "unknown_case_for_processor: case `{}` was never delivered to `{party}`",
                    report.case_id
                )));
            }
        }
        let purposes = if request.purposes.is_empty() {
            self.default_report_purposes(&party)
        } else {
            request.purposes
        };
        let message_id = self
            .ingest
            .submit(
                &party,
                trace.as_deref(),
                Submission {
                    message_type: REPORT,
                    event_id: &report.event_id,
                    purposes: &purposes,
                    violations,
                    payload: report.encode_to_vec(),
                },
            )
            .await?;
        Ok(Response::new(SubmitReportResponse { message_id }))
    }
}
