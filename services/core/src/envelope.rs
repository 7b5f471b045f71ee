//! The AMQP envelope of the contract: header names, deterministic message
//! ids, declared purposes and W3C trace context.

use uuid::Uuid;

/// Exchange producers publish to (topic; routing key = message type).
pub const INGRESS_EXCHANGE: &str = "hub.ingress";
/// Exchange the router publishes minimised copies to (direct; key = queue).
pub const EGRESS_EXCHANGE: &str = "hub.egress";
/// Dead-letter exchange (direct; key = `dead.<queue>`).
pub const DEAD_EXCHANGE: &str = "hub.dead";
/// The router's input queue.
pub const ROUTER_QUEUE: &str = "hub.router";

/// Declared purposes, comma-separated.
pub const H_PURPOSE: &str = "x-hub-purpose";
/// The legal basis of a delivery.
pub const H_LEGAL_BASIS: &str = "x-hub-legal-basis";
/// The register activity of a delivery.
pub const H_ACTIVITY: &str = "x-hub-activity";
/// The producing party, set by the hub (gateway, replay); refused from others.
pub const H_SOURCE: &str = "x-hub-source";
/// The ingress message id a delivery came from.
pub const H_INGRESS_ID: &str = "x-hub-ingress-id";
/// The catalog version that decided a delivery.
pub const H_CATALOG_VERSION: &str = "x-hub-catalog-version";
/// Why a message was dead-lettered.
pub const H_REASON: &str = "x-hub-reason";
/// Readable detail of the reason, without personal data.
pub const H_DETAIL: &str = "x-hub-detail";
/// How many times the hub tried.
pub const H_ATTEMPTS: &str = "x-hub-attempts";
/// When the first failure happened (RFC 3339).
pub const H_FIRST_FAILURE: &str = "x-hub-first-failure";
/// When the last failure happened (RFC 3339).
pub const H_LAST_FAILURE: &str = "x-hub-last-failure";
/// The queue the message failed in.
pub const H_ORIGIN_QUEUE: &str = "x-hub-origin-queue";
/// The service that dead-lettered it.
pub const H_SERVICE: &str = "x-hub-service";
/// The `user_id` the message arrived with (a republish cannot keep it).
pub const H_ORIGINAL_USER: &str = "x-hub-original-user-id";
/// W3C trace context.
pub const H_TRACEPARENT: &str = "traceparent";
/// RabbitMQ's redelivery counter on quorum queues.
pub const H_DELIVERY_COUNT: &str = "x-delivery-count";

/// The dead-letter queue of `queue`.
#[must_use]
pub fn dead_queue(queue: &str) -> String {
    format!("dead.{queue}")
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6875_622d_696e_7465_6772_6174_696f_6e00);

/// The ingress message id of an event: the same producer, type and event id
/// always give the same id, so a resubmission is recognisable downstream.
#[must_use]
pub fn ingress_message_id(producer: &str, message_type: &str, event_id: &str) -> String {
    Uuid::new_v5(
        &NAMESPACE,
        format!("ingress\0{producer}\0{message_type}\0{event_id}").as_bytes(),
    )
    .to_string()
}

/// The id of the copy of `ingress_id` for `queue`: a redelivery of the same
/// ingress message yields the same egress id.
#[must_use]
pub fn egress_message_id(ingress_id: &str, queue: &str) -> String {
    Uuid::new_v5(
        &NAMESPACE,
        format!("egress\0{ingress_id}\0{queue}").as_bytes(),
    )
    .to_string()
}

/// Reads `x-hub-purpose`: comma-separated ids, trimmed, without repeats or
/// empty entries, in the order given.
#[must_use]
pub fn parse_purposes(header: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !out.iter().any(|existing| existing == p) {
            out.push(p.to_owned());
        }
    }
    out
}

/// W3C trace context: a trace id and the id of the span that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: String,
}

impl TraceContext {
    /// A new trace with a random trace id and span id.
    #[must_use]
    pub fn new_root() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        Self {
            span_id: Uuid::new_v4().simple().to_string()[..16].to_owned(),
            trace_id: id,
        }
    }

    /// Reads a `traceparent` header; `None` when it is not well-formed.
    #[must_use]
    pub fn parse(header: &str) -> Option<Self> {
        let parts: Vec<&str> = header.trim().split('-').collect();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts.as_slice() {
            [version, trace, span, flags]
                if hex(version, 2)
                    && hex(trace, 32)
                    && hex(span, 16)
                    && hex(flags, 2)
                    && *version != "ff" =>
            {
                Some(Self {
                    trace_id: trace.to_ascii_lowercase(),
                    span_id: span.to_ascii_lowercase(),
                })
            }
            _ => None,
        }
    }

    /// The same trace, continued by a new span of this service.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            span_id: Uuid::new_v4().simple().to_string()[..16].to_owned(),
        }
    }

    /// The `traceparent` header value.
    #[must_use]
    pub fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = ingress_message_id("wens", "wens.hire.v1", "e1");
        assert_eq!(a, ingress_message_id("wens", "wens.hire.v1", "e1"));
        assert_ne!(a, ingress_message_id("robidus", "wens.hire.v1", "e1"));
        assert_eq!(egress_message_id(&a, "q1"), egress_message_id(&a, "q1"));
        assert_ne!(egress_message_id(&a, "q1"), egress_message_id(&a, "q2"));
    }

    #[test]
    fn purposes_are_trimmed_and_deduplicated() {
        assert_eq!(parse_purposes(" a, b ,a,,"), ["a", "b"]);
        assert!(parse_purposes("").is_empty());
    }

    #[test]
    fn traceparent_round_trip() {
        let root = TraceContext::new_root();
        assert_eq!(TraceContext::parse(&root.header()), Some(root.clone()));
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(TraceContext::parse("00-zz-11-01"), None);
    }
}

/// Dead-letter reasons (`x-hub-reason`), part of the contract.
pub mod reason {
    /// The message is larger than the configured limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// The `type` property is missing or not in the catalog.
    pub const UNKNOWN_MESSAGE_TYPE: &str = "unknown_message_type";
    /// The producer may not send this type, or could not be established.
    pub const UNAUTHORISED_SOURCE: &str = "unauthorised_source";
    /// A declared purpose is not allowed for the type, or none was declared.
    pub const PURPOSE_NOT_ALLOWED: &str = "purpose_not_allowed";
    /// The payload does not decode or breaks the schema's rules.
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    /// A processor reported on a case the hub never delivered to it.
    pub const UNKNOWN_CASE_FOR_PROCESSOR: &str = "unknown_case_for_processor";
    /// No route of the type serves any declared purpose.
    pub const NO_ROUTE: &str = "no_route";
    /// A message id was reused for a different payload.
    pub const DUPLICATE_MESSAGE_ID: &str = "duplicate_message_id";
    /// A consumer could not apply the message within its retry budget.
    pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";
}
