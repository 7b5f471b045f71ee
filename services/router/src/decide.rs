//! The decision for one message: the checks in contract order, the
//! minimised copies, the log write, the publishes.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hub_core::amqp::consumer::{Handler, Outcome};
use hub_core::amqp::headers::{get_str, set_str, short, short_string};
use hub_core::amqp::publisher::Publisher;
use hub_core::envelope::{self, TraceContext, reason};
use hub_policy::catalog::{MessageType, Route};
use hub_policy::fieldpath::FieldPath;
use hub_policy::pseudonym::SubjectId;
use hub_policy::{Catalog, ContentType, PseudonymKey, mask, payload};
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::FieldTable;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::log::{self, CopyRecord, LogWriter, Recorded};

/// A failed check: the dead-letter reason and a detail without personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// One of [`hub_core::envelope::reason`].
    pub reason: &'static str,
    /// Readable detail.
    pub detail: String,
}

fn reject(reason: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// A message that passed the envelope and payload checks.
#[derive(Debug)]
pub struct Accepted<'a> {
    /// Its type.
    pub message_type: &'a MessageType,
    /// Who sent it.
    pub producer: String,
    /// What it was sent for.
    pub purposes: Vec<String>,
    /// The payload as protobuf wire bytes.
    pub wire: Vec<u8>,
    /// Its `message_id`.
    pub ingress_id: String,
    /// The routes that fire.
    pub routes: Vec<&'a Route>,
}

/// The router's state; one instance serves all deliveries.
pub struct Router {
    catalog: Arc<Catalog>,
    key: PseudonymKey,
    pool: PgPool,
    log: LogWriter,
    publisher: Arc<Publisher>,
    hub_user: String,
    max_payload_bytes: usize,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("catalog", &self.catalog.version())
            .finish()
    }
}

/// A text value at `path` of the payload, if present.
fn leaf_str(wire: &[u8], path: &FieldPath) -> Option<String> {
    hub_policy::wire::get_string(wire, &path.numbers()).map(str::to_owned)
}

impl Router {
    /// A router over `catalog`; `hub_user` is the AMQP user the hub itself
    /// publishes as (trusted to name the producer in `x-hub-source`).
    /// Starts the processing-log writer, so call it within a Tokio runtime.
    #[must_use]
    pub fn new(
        catalog: Arc<Catalog>,
        key: PseudonymKey,
        pool: PgPool,
        publisher: Arc<Publisher>,
        hub_user: String,
        max_payload_bytes: usize,
    ) -> Self {
        Self {
            catalog,
            key,
            log: LogWriter::start(pool.clone()),
            pool,
            publisher,
            hub_user,
            max_payload_bytes,
        }
    }

    /// Who sent a message: the broker-validated `user_id`, or, when the hub
    /// itself published it (gateway, replay), `x-hub-source`.
    fn producer(&self, properties: &BasicProperties) -> Result<String, Rejection> {
        let source = get_str(properties.headers().as_ref(), envelope::H_SOURCE);
        match (short(properties.user_id()), source) {
            (Some(user), Some(source)) if user == self.hub_user => Ok(source.to_owned()),
            (Some(user), None) if user == self.hub_user => Err(reject(
                reason::UNAUTHORISED_SOURCE,
                "published by the hub's own user without x-hub-source",
            )),
            (Some(user), Some(_)) => Err(reject(
                reason::UNAUTHORISED_SOURCE,
                format!("`{user}` set x-hub-source, which only the hub may set"),
            )),
            (Some(user), None) => Ok(user.to_owned()),
            (None, _) => Err(reject(
                reason::UNAUTHORISED_SOURCE,
                "no user_id: publish with user_id set to your AMQP user, so the broker can vouch for it",
            )),
        }
    }

    /// The checks of the contract, in order; pure (no I/O).
    pub fn check<'a>(
        &'a self,
        data: &[u8],
        properties: &BasicProperties,
        now: DateTime<Utc>,
    ) -> Result<Accepted<'a>, Rejection> {
        if data.len() > self.max_payload_bytes {
            return Err(reject(
                reason::PAYLOAD_TOO_LARGE,
                format!(
                    "{} bytes, the limit is {}",
                    data.len(),
                    self.max_payload_bytes
                ),
            ));
        }
        let type_id = short(properties.kind()).ok_or_else(|| {
            reject(
                reason::UNKNOWN_MESSAGE_TYPE,
                "the message has no type property",
            )
        })?;
        let message_type = self.catalog.message_type(type_id).ok_or_else(|| {
            let shown: String = type_id
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            reject(
                reason::UNKNOWN_MESSAGE_TYPE,
                format!("type `{shown}` is not in the catalog"),
            )
        })?;
        let producer = self.producer(properties)?;
        if !message_type.producers.contains(&producer) {
            return Err(reject(
                reason::UNAUTHORISED_SOURCE,
                format!("`{producer}` may not send {type_id}"),
            ));
        }
        let declared = get_str(properties.headers().as_ref(), envelope::H_PURPOSE).unwrap_or("");
        let purposes = envelope::parse_purposes(declared);
        if purposes.is_empty() {
            return Err(reject(
                reason::PURPOSE_NOT_ALLOWED,
                "no x-hub-purpose header: declare the purposes the message is sent for",
            ));
        }
        if let Some(bad) = purposes
            .iter()
            .find(|p| !message_type.purposes.contains(*p))
        {
            let shown: String = bad
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            return Err(reject(
                reason::PURPOSE_NOT_ALLOWED,
                format!("purpose `{shown}` is not allowed for {type_id}"),
            ));
        }
        let invalid = |e: payload::PayloadError| reject(reason::INVALID_PAYLOAD, e.to_string());
        let content_type = ContentType::parse(short(properties.content_type())).map_err(invalid)?;
        let wire = payload::decode_to_wire(
            &message_type.schema,
            &message_type.shape,
            content_type,
            data,
        )
        .map_err(invalid)?;
        payload::validate_wire(message_type.payload_schema, &wire, now).map_err(invalid)?;
        let ingress_id = short(properties.message_id())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                reject(
                    reason::INVALID_PAYLOAD,
                    "the message has no message_id (its idempotency key)",
                )
            })?
            .to_owned();
        let routes: Vec<&Route> = self
            .catalog
            .routes_for(&message_type.id)
            .filter(|r| r.purposes.iter().any(|p| purposes.contains(p)))
            .collect();
        if routes.is_empty() {
            return Err(reject(
                reason::NO_ROUTE,
                format!(
                    "no route of {type_id} serves the declared purposes {}",
                    purposes.join(",")
                ),
            ));
        }
        Ok(Accepted {
            message_type,
            producer,
            purposes,
            wire,
            ingress_id,
            routes,
        })
    }

    fn rejected(&self, properties: &BasicProperties, rejection: Rejection) -> Outcome {
        let known_type = short(properties.kind())
            .filter(|t| self.catalog.message_type(t).is_some())
            .unwrap_or("unknown")
            .to_owned();
        metrics::counter!("hub_messages_rejected_total", "type" => known_type, "reason" => rejection.reason)
            .increment(1);
        Outcome::dead_letter(rejection.reason, rejection.detail)
    }

    async fn route(&self, delivery: &Delivery, received: Instant) -> Result<Outcome, String> {
        let properties = &delivery.properties;
        let accepted = match self.check(&delivery.data, properties, Utc::now()) {
            Ok(a) => a,
            Err(rejection) => return Ok(self.rejected(properties, rejection)),
        };
        let mt = accepted.message_type;
        let case_id = mt
            .case_key
            .as_ref()
            .and_then(|p| leaf_str(&accepted.wire, p));
        let mut subject = mt
            .subject_bsn
            .as_ref()
            .and_then(|p| leaf_str(&accepted.wire, p))
            .map(|v| self.key.pseudonym(SubjectId::Bsn(&v)));
        let mut employee = mt
            .subject_employee_id
            .as_ref()
            .and_then(|p| leaf_str(&accepted.wire, p))
            .map(|v| self.key.pseudonym(SubjectId::EmployeeId(&v)));
        if mt.case_owner_check {
            let case = case_id.clone().unwrap_or_default();
            match log::case_subject(&self.pool, &case, &accepted.producer).await {
                Ok(Some((s, e))) => {
                    subject = subject.or(s);
                    employee = employee.or(e);
                }
                Ok(None) => {
                    let rejection = reject(
                        reason::UNKNOWN_CASE_FOR_PROCESSOR,
                        format!(
                            "case `{case}` was never delivered to `{}`",
                            accepted.producer
                        ),
                    );
                    return Ok(self.rejected(properties, rejection));
                }
                Err(e) => return Err(format!("case lookup: {e}")),
            }
        }

        let trace = get_str(properties.headers().as_ref(), envelope::H_TRACEPARENT)
            .and_then(TraceContext::parse)
            .map_or_else(TraceContext::new_root, |t| t.child());
        let total_leaves = hub_policy::wire::count_leaves(&mt.shape, &accepted.wire);
        let mut copies = Vec::with_capacity(accepted.routes.len());
        for route in &accepted.routes {
            let minimised = route.mask.minimise(&accepted.wire);
            let delivered = minimised.delivered_leaves;
            let categories = minimised.categories;
            let payload = mask::encode(&mt.schema, minimised.bytes, route.encoding)?;
            copies.push(CopyRecord {
                route,
                egress_id: envelope::egress_message_id(&accepted.ingress_id, &route.queue),
                payload,
                purposes: accepted
                    .purposes
                    .iter()
                    .filter(|p| route.purposes.contains(*p))
                    .cloned()
                    .collect(),
                categories: self
                    .catalog
                    .category_names(categories)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                delivered,
                removed: total_leaves.saturating_sub(delivered),
            });
        }

        let payload_hash = hex::encode(Sha256::digest(&delivery.data));
        let record = log::Delivery {
            ingress_id: &accepted.ingress_id,
            payload_hash: &payload_hash,
            trace: &trace,
            message_type: &mt.id,
            activity: &mt.activity,
            source: &accepted.producer,
            catalog_version: self.catalog.version(),
            subject: subject.as_deref(),
            employee: employee.as_deref(),
            case_id: case_id.as_deref(),
            copies: &copies,
        };
        let publish_to: Vec<&CopyRecord<'_>> = match self.log.record(&record).await {
            Ok(Recorded::New) => copies.iter().collect(),
            Ok(Recorded::Replay {
                payload_hash: stored,
                queues,
            }) => {
                if stored != payload_hash {
                    let rejection = reject(
                        reason::DUPLICATE_MESSAGE_ID,
                        format!(
                            "message_id {} was used before for a different payload",
                            accepted.ingress_id
                        ),
                    );
                    return Ok(self.rejected(properties, rejection));
                }
                tracing::debug!(message_id = %accepted.ingress_id, "redelivery, republishing the logged copies");
                metrics::counter!("hub_duplicates_total", "queue" => envelope::ROUTER_QUEUE)
                    .increment(1);
                copies
                    .iter()
                    .filter(|c| queues.contains(&c.route.queue))
                    .collect()
            }
            Err(e) => return Err(format!("processing log write: {e}")),
        };

        let publishes = publish_to.iter().map(|copy| {
            let properties = self.egress_properties(&accepted, copy, &trace);
            self.publisher.publish(
                envelope::EGRESS_EXCHANGE,
                &copy.route.queue,
                &copy.payload,
                properties,
            )
        });
        for result in futures_util::future::join_all(publishes).await {
            result.map_err(|e| format!("egress publish: {e}"))?;
        }
        let latency = received.elapsed().as_secs_f64();
        for copy in &publish_to {
            metrics::counter!("hub_messages_routed_total", "type" => mt.id.clone(), "recipient" => copy.route.recipient.clone())
                .increment(1);
            metrics::counter!("hub_fields_removed_total", "type" => mt.id.clone(), "recipient" => copy.route.recipient.clone())
                .increment(copy.removed as u64);
            metrics::histogram!("hub_delivery_latency_seconds", "recipient" => copy.route.recipient.clone()).record(latency);
        }
        tracing::debug!(
            message_id = %accepted.ingress_id,
            message_type = %mt.id,
            trace_id = %trace.trace_id,
            copies = publish_to.len(),
            "routed"
        );
        Ok(Outcome::Ack)
    }

    fn egress_properties(
        &self,
        accepted: &Accepted<'_>,
        copy: &CopyRecord<'_>,
        trace: &TraceContext,
    ) -> BasicProperties {
        let mut headers = FieldTable::default();
        set_str(&mut headers, envelope::H_PURPOSE, copy.purposes.join(","));
        set_str(
            &mut headers,
            envelope::H_LEGAL_BASIS,
            copy.route.legal_basis.as_str(),
        );
        set_str(
            &mut headers,
            envelope::H_ACTIVITY,
            accepted.message_type.activity.as_str(),
        );
        set_str(&mut headers, envelope::H_SOURCE, accepted.producer.as_str());
        set_str(
            &mut headers,
            envelope::H_INGRESS_ID,
            accepted.ingress_id.as_str(),
        );
        set_str(
            &mut headers,
            envelope::H_CATALOG_VERSION,
            self.catalog.version(),
        );
        set_str(&mut headers, envelope::H_TRACEPARENT, trace.header());
        let expiration = copy.route.retention.as_millis().to_string();
        BasicProperties::default()
            .with_message_id(copy.egress_id.as_str().into())
            .with_type(short_string(&accepted.message_type.id))
            .with_content_type(copy.route.encoding.content_type().into())
            .with_delivery_mode(2)
            .with_user_id(short_string(&self.hub_user))
            .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
            .with_expiration(expiration.as_str().into())
            .with_headers(headers)
    }
}

impl Handler for Router {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let received = Instant::now();
        match self.route(delivery, received).await {
            Ok(outcome) => outcome,
            Err(detail) => Outcome::Transient(detail),
        }
    }
}
