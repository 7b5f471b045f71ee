//! What every submit does: authenticate, authorise against the catalog,
//! validate, publish with confirms.

use std::sync::Arc;

use chrono::Utc;
use hub_core::amqp::headers::{set_str, short_string};
use hub_core::amqp::publisher::{PublishError, Publisher};
use hub_core::auth::Credentials;
use hub_core::envelope::{self, TraceContext};
use hub_core::grpc::invalid_argument;
use hub_policy::{Catalog, FieldViolation};
use lapin::BasicProperties;
use lapin::types::FieldTable;
use tonic::{Request, Status};

/// The shared ingest path of the gateway's services.
pub struct Ingest {
    catalog: Arc<Catalog>,
    credentials: Credentials,
    publisher: Arc<Publisher>,
    hub_user: String,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// An event to publish, with what its validation found.
#[derive(Debug)]
pub struct Submission<'a> {
    /// Catalog message type id.
    pub message_type: &'a str,
    /// The event's id (the idempotency key).
    pub event_id: &'a str,
    /// Declared purposes; empty means the type's only purpose, if it has one.
    pub purposes: &'a [String],
    /// Violations found by the type's validator; any makes it INVALID_ARGUMENT.
    pub violations: Vec<FieldViolation>,
    /// The event as protobuf.
    pub payload: Vec<u8>,
}

impl Ingest {
    /// The ingest path over `publisher`, with callers from `credentials`.
    #[must_use]
    pub fn new(
        catalog: Arc<Catalog>,
        credentials: Credentials,
        publisher: Arc<Publisher>,
        hub_user: String,
    ) -> Self {
        Self {
            catalog,
            credentials,
            publisher,
            hub_user,
        }
    }

    /// The caller's party, from its credentials.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<String, Status> {
        self.credentials.authenticate(request)
    }

    /// Checks the submission against the catalog and publishes it. Returns
    /// the AMQP message id.
    pub async fn submit(
        &self,
        party: &str,
        traceparent: Option<&str>,
        s: Submission<'_>,
    ) -> Result<String, Status> {
        let Some(message_type) = self.catalog.message_type(s.message_type) else {
            return Err(Status::failed_precondition(format!(
                "message type {} is not in the catalog",
                s.message_type
            )));
        };
        if !message_type.producers.contains(party) {
            return Err(Status::permission_denied(format!(
                "party `{party}` may not submit {}",
                s.message_type
            )));
        }
        let mut violations = s.violations;
        let purposes: Vec<String> = if s.purposes.is_empty() && message_type.purposes.len() == 1 {
            message_type.purposes.iter().cloned().collect()
        } else {
            s.purposes.iter().map(|p| p.trim().to_owned()).collect()
        };
        if purposes.is_empty() {
            violations.push(FieldViolation {
                field: "purposes".to_owned(),
                description: format!(
                    "declare at least one of: {}",
                    message_type
                        .purposes
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        for (i, purpose) in purposes.iter().enumerate() {
            if !message_type.purposes.contains(purpose) {
                violations.push(FieldViolation {
                    field: format!("purposes[{i}]"),
                    description: format!("is not a purpose allowed for {}", s.message_type),
                });
            }
        }
        if !violations.is_empty() {
            metrics::counter!("hub_gateway_rejected_total", "type" => s.message_type.to_owned(), "reason" => "invalid_argument")
                .increment(1);
            return Err(invalid_argument(&violations));
        }

        let message_id = envelope::ingress_message_id(party, s.message_type, s.event_id);
        let trace = traceparent
            .and_then(TraceContext::parse)
            .map_or_else(TraceContext::new_root, |t| t.child());
        let mut headers = FieldTable::default();
        set_str(&mut headers, envelope::H_SOURCE, party);
        set_str(&mut headers, envelope::H_PURPOSE, purposes.join(","));
        set_str(&mut headers, envelope::H_TRACEPARENT, trace.header());
        let properties = BasicProperties::default()
            .with_message_id(message_id.as_str().into())
            .with_type(short_string(s.message_type))
            .with_content_type("application/x-protobuf".into())
            .with_delivery_mode(2)
            .with_user_id(short_string(&self.hub_user))
            .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
            .with_headers(headers);
        match self
            .publisher
            .publish(
                envelope::INGRESS_EXCHANGE,
                s.message_type,
                &s.payload,
                properties,
            )
            .await
        {
            Ok(()) => {
                metrics::counter!("hub_gateway_accepted_total", "type" => s.message_type.to_owned()).increment(1);
                tracing::debug!(party, message_type = s.message_type, message_id = %message_id, trace_id = %trace.trace_id, "accepted");
                Ok(message_id)
            }
            Err(error) => {
                tracing::warn!(party, message_type = s.message_type, message_id = %message_id, error = %error, "publish failed");
                Err(publish_status(&error))
            }
        }
    }
}

/// The gRPC status of a failed publish: the broker refusing is
/// `RESOURCE_EXHAUSTED` (queue full, alarm), anything else `UNAVAILABLE`.
/// Never OK.
fn publish_status(error: &PublishError) -> Status {
    if error.is_refusal() {
        Status::resource_exhausted(format!(
            "the broker refused the event: {error}; retry later"
        ))
    } else {
        Status::unavailable(format!(
            "the event was not confirmed by the broker: {error}; retry later"
        ))
    }
}
