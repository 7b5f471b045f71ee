//! `OperatorService` over gRPC: authenticates the caller by bearer token,
//! calls [`Ops`], and converts to the wire types. The one place that turns
//! an [`OpError`] into a `tonic::Status`.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hub_proto::operator::v1 as pb;
use hub_proto::operator::v1::operator_service_server::OperatorService;
use prost_types::Timestamp;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::auth::OperatorUser;
use crate::dead_letters::{DeadLetter, GroupKey, Inspected, Selection, State};
use crate::error::OpError;
use crate::ops::Ops;
use crate::replay::{Pace, Progress};
use crate::search::{LoggedDelivery, Purpose, Subject};

impl From<OpError> for Status {
    fn from(error: OpError) -> Self {
        match &error {
            OpError::Unauthenticated(m) => Status::unauthenticated(m.clone()),
            OpError::Denied { .. } => Status::permission_denied(error.to_string()),
            OpError::Invalid(violations) => hub_core::grpc::invalid_argument(violations),
            OpError::NotFound(m) => Status::not_found(m.clone()),
            OpError::Precondition(m) => Status::failed_precondition(m.clone()),
            OpError::Store(_) | OpError::Publish(_) => {
                let message = error.log_internal();
                if error.is_transient() {
                    Status::unavailable(message)
                } else {
                    Status::internal(message)
                }
            }
        }
    }
}

/// The gRPC front end.
pub(crate) struct Service {
    ops: Arc<Ops>,
}

impl Service {
    pub(crate) fn new(ops: Arc<Ops>) -> Self {
        Self { ops }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<OperatorUser, OpError> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                OpError::Unauthenticated(
                    "operator token required: `authorization: Bearer <token>`".to_owned(),
                )
            })?;
        self.ops
            .operators()
            .identify(token.trim())
            .ok_or_else(|| OpError::Unauthenticated("unknown operator token".to_owned()))
    }
}

fn ts(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn key_to_pb(key: &GroupKey) -> pb::DeadLetterGroupKey {
    pb::DeadLetterGroupKey {
        origin_queue: key.origin_queue.clone(),
        reason: key.reason.clone(),
        message_type: key.message_type.clone(),
    }
}

fn key_from_pb(key: pb::DeadLetterGroupKey) -> GroupKey {
    GroupKey {
        origin_queue: key.origin_queue,
        reason: key.reason,
        message_type: key.message_type,
    }
}

fn state_to_pb(state: State) -> pb::DeadLetterState {
    match state {
        State::Open => pb::DeadLetterState::Open,
        State::Retried => pb::DeadLetterState::Retried,
        State::Discarded => pb::DeadLetterState::Discarded,
        State::Purged => pb::DeadLetterState::Purged,
    }
}

fn dead_letter_to_pb(d: &DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        id: d.id.to_string(),
        key: Some(key_to_pb(&d.key)),
        dead_queue: d.dead_queue.clone(),
        message_id: d.message_id.clone(),
        source: d.source.clone(),
        detail: d.detail.clone(),
        attempts: d.attempts,
        first_failure: d.first_failure.map(ts),
        last_failure: d.last_failure.map(ts),
        dead_lettered_at: Some(ts(d.dead_lettered_at)),
        expires_at: Some(ts(d.expires_at)),
        content_type: d.content_type.clone(),
        size_bytes: d.size_bytes,
        payload_kept: d.payload_kept,
        state: state_to_pb(d.state).into(),
        resolved_at: d.resolved_at.map(ts),
        resolved_by: d.resolved_by.clone(),
        resolution_note: d.resolution_note.clone(),
        purposes: d.purposes.clone(),
        headers_json: d.headers.to_string(),
    }
}

fn inspected_to_pb(i: &Inspected) -> (Option<pb::DeadLetter>, Option<pb::RedactedPayload>) {
    let payload = i.payload.as_ref().map(|p| pb::RedactedPayload {
        fields: p
            .fields
            .iter()
            .map(|f| pb::PayloadField {
                path: f.path.clone(),
                category: f.category.clone(),
                count: f.count,
                values: f.values.clone(),
            })
            .collect(),
        decode_error: p.decode_error.clone().unwrap_or_default(),
    });
    (Some(dead_letter_to_pb(&i.dead_letter)), payload)
}

fn selection_from_pb(selection: Option<pb::DeadLetterSelection>) -> Result<Selection, OpError> {
    match selection.and_then(|s| s.kind) {
        Some(pb::dead_letter_selection::Kind::Ids(ids)) => Selection::ids(&ids.ids),
        Some(pb::dead_letter_selection::Kind::Group(key)) if !key.origin_queue.is_empty() => {
            Ok(Selection::Group(key_from_pb(key)))
        }
        _ => Err(OpError::invalid(
            "selection",
            "give dead-letter ids or a group (origin_queue, reason, message_type)",
        )),
    }
}

fn progress_to_pb(p: &Progress) -> pb::RetryDeadLettersResponse {
    pb::RetryDeadLettersResponse {
        job_id: p.job_id.to_string(),
        total: p.total,
        retried: p.retried,
        skipped: p.skipped,
        failed: p.failed,
        done: p.done,
        error: p.error.clone().unwrap_or_default(),
    }
}

fn delivery_to_pb(r: LoggedDelivery) -> pb::LoggedDelivery {
    pb::LoggedDelivery {
        logged_at: Some(ts(r.logged_at)),
        message_type: r.message_type,
        register_activity: r.activity,
        purposes: r.purposes,
        legal_basis: r.legal_basis,
        source: r.source,
        recipient: r.recipient,
        categories: r.categories,
        fields_delivered: r.fields_delivered,
        fields_removed: r.fields_removed,
        catalog_version: r.catalog_version,
        trace_id: r.trace_id,
        ingress_message_id: r.ingress_message_id,
        egress_message_id: r.egress_message_id,
    }
}

fn component_to_pb(c: crate::overview::Component) -> pb::ComponentHealth {
    pb::ComponentHealth {
        name: c.name,
        ready: c.ready,
        detail: c.detail,
        since: c.since.map(ts),
    }
}

type ProgressStream =
    Pin<Box<dyn Stream<Item = Result<pb::RetryDeadLettersResponse, Status>> + Send>>;

#[tonic::async_trait]
impl OperatorService for Service {
    async fn search_processing_log(
        &self,
        request: Request<pb::SearchProcessingLogRequest>,
    ) -> Result<Response<pb::SearchProcessingLogResponse>, Status> {
        let user = self.caller(&request)?;
        let request = request.into_inner();
        let subject = match request.subject {
            Some(pb::search_processing_log_request::Subject::Bsn(v)) => Subject::Bsn(v),
            Some(pb::search_processing_log_request::Subject::EmployeeId(v)) => {
                Subject::EmployeeId(v)
            }
            None => Subject::EmployeeId(String::new()),
        };
        let deliveries = self
            .ops
            .search_log(
                &user,
                &subject,
                &request.reason,
                request.limit,
                Purpose::Search,
            )
            .await?;
        Ok(Response::new(pb::SearchProcessingLogResponse {
            deliveries: deliveries.into_iter().map(delivery_to_pb).collect(),
        }))
    }

    async fn get_overview(
        &self,
        request: Request<pb::GetOverviewRequest>,
    ) -> Result<Response<pb::GetOverviewResponse>, Status> {
        let user = self.caller(&request)?;
        let overview = self.ops.overview(&user).await?;
        Ok(Response::new(pb::GetOverviewResponse {
            queues: overview
                .queues
                .into_iter()
                .map(|q| pb::QueueStats {
                    name: q.name,
                    messages_ready: q.ready,
                    messages_unacknowledged: q.unacked,
                    consumers: q.consumers,
                    publish_rate: q.publish_rate,
                    deliver_rate: q.deliver_rate,
                })
                .collect(),
            nodes: overview
                .nodes
                .into_iter()
                .map(|n| pb::BrokerNode {
                    name: n.name,
                    running: n.running,
                    memory_alarm: n.memory_alarm,
                    disk_alarm: n.disk_alarm,
                })
                .collect(),
            components: overview
                .components
                .into_iter()
                .map(component_to_pb)
                .collect(),
            broker_error: overview.broker_error.unwrap_or_default(),
            services: overview.services.into_iter().map(component_to_pb).collect(),
        }))
    }

    async fn list_dead_letter_groups(
        &self,
        request: Request<pb::ListDeadLetterGroupsRequest>,
    ) -> Result<Response<pb::ListDeadLetterGroupsResponse>, Status> {
        let user = self.caller(&request)?;
        let groups = self.ops.groups(&user).await?;
        Ok(Response::new(pb::ListDeadLetterGroupsResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::DeadLetterGroup {
                    key: Some(key_to_pb(&g.key)),
                    count: u64::try_from(g.count).unwrap_or(0),
                    retriable: u64::try_from(g.retriable).unwrap_or(0),
                    first_seen: g.first_seen.map(ts),
                    last_seen: g.last_seen.map(ts),
                })
                .collect(),
        }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let user = self.caller(&request)?;
        let request = request.into_inner();
        let state = match request.state() {
            pb::DeadLetterState::Unspecified | pb::DeadLetterState::Open => State::Open,
            pb::DeadLetterState::Retried => State::Retried,
            pb::DeadLetterState::Discarded => State::Discarded,
            pb::DeadLetterState::Purged => State::Purged,
        };
        let group = request.group.map(key_from_pb);
        let listing = self
            .ops
            .list(&user, group.as_ref(), state, request.limit)
            .await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: listing.dead_letters.iter().map(dead_letter_to_pb).collect(),
            total: u64::try_from(listing.total).unwrap_or(0),
        }))
    }

    async fn get_dead_letter(
        &self,
        request: Request<pb::GetDeadLetterRequest>,
    ) -> Result<Response<pb::GetDeadLetterResponse>, Status> {
        let user = self.caller(&request)?;
        let inspected = self.ops.inspect(&user, &request.get_ref().id).await?;
        let (dead_letter, payload) = inspected_to_pb(&inspected);
        Ok(Response::new(pb::GetDeadLetterResponse {
            dead_letter,
            payload,
        }))
    }

    async fn reveal_dead_letter(
        &self,
        request: Request<pb::RevealDeadLetterRequest>,
    ) -> Result<Response<pb::RevealDeadLetterResponse>, Status> {
        let user = self.caller(&request)?;
        let request = request.into_inner();
        let inspected = self.ops.reveal(&user, &request.id, &request.reason).await?;
        let (dead_letter, payload) = inspected_to_pb(&inspected);
        Ok(Response::new(pb::RevealDeadLetterResponse {
            dead_letter,
            payload,
            raw_payload: inspected.raw_payload.unwrap_or_default(),
        }))
    }

    type RetryDeadLettersStream = ProgressStream;

    async fn retry_dead_letters(
        &self,
        request: Request<pb::RetryDeadLettersRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let user = self.caller(&request)?;
        let request = request.into_inner();
        let selection = selection_from_pb(request.selection)?;
        let pace = Pace::new(request.batch_size, request.rate_per_second);
        let progress = self
            .ops
            .start_retry(&user, &selection, pace, &request.note)
            .await?;
        // The job runs on its own; the stream only watches it (a client
        // that goes away does not stop the job). It ends with the job.
        let stream = WatchStream::new(progress).map(|p| Ok(progress_to_pb(&p)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn discard_dead_letters(
        &self,
        request: Request<pb::DiscardDeadLettersRequest>,
    ) -> Result<Response<pb::DiscardDeadLettersResponse>, Status> {
        let user = self.caller(&request)?;
        let request = request.into_inner();
        let selection = selection_from_pb(request.selection)?;
        let done = self.ops.discard(&user, &selection, &request.reason).await?;
        Ok(Response::new(pb::DiscardDeadLettersResponse {
            discarded: done.discarded,
            skipped: done.skipped,
        }))
    }
}
