//! One subscription: a channel consuming the caller's queues, feeding a
//! gRPC stream, and the ackers of what it sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::stream::select_all;
use hub_core::amqp::Amqp;
use hub_core::amqp::headers::{get_str, short};
use hub_core::envelope;
use hub_core::shutdown::Shutdown;
use hub_policy::{Catalog, ContentType, payload};
use hub_proto::processor::v1::subscribe_response::Body;
use hub_proto::processor::v1::{RawMessage, SubscribeResponse};
use hub_proto::reintegration::v1::CaseUpdate;
use lapin::Acker;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::mpsc;
use tonic::Status;

/// Deliveries sent to processors and not yet acked, by (party, message id).
pub(crate) type Pending = Arc<Mutex<HashMap<(String, String), (u64, Acker)>>>;

const CASE_UPDATE: &str = "reintegration.case_update.v1";

/// What a delivery becomes on the stream.
fn response(catalog: &Catalog, delivery: &Delivery) -> SubscribeResponse {
    let props = &delivery.properties;
    let headers = props.headers().as_ref();
    let message_type = short(props.kind()).unwrap_or_default().to_owned();
    let content_type = short(props.content_type()).unwrap_or_default().to_owned();
    let typed = (message_type == CASE_UPDATE)
        .then(|| catalog.message_type(CASE_UPDATE))
        .flatten()
        .and_then(|mt| {
            let ct = ContentType::parse(Some(&content_type)).ok()?;
            payload::decode(&mt.schema, ct, &delivery.data)
                .ok()?
                .transcode_to::<CaseUpdate>()
                .ok()
        });
    let body = match typed {
        Some(update) => Body::CaseUpdate(update),
        None => Body::Raw(RawMessage {
            content_type,
            payload: delivery.data.clone(),
        }),
    };
    SubscribeResponse {
        message_id: short(props.message_id()).unwrap_or_default().to_owned(),
        message_type,
        purposes: envelope::parse_purposes(get_str(headers, envelope::H_PURPOSE).unwrap_or("")),
        legal_basis: get_str(headers, envelope::H_LEGAL_BASIS)
            .unwrap_or_default()
            .to_owned(),
        register_activity: get_str(headers, envelope::H_ACTIVITY)
            .unwrap_or_default()
            .to_owned(),
        catalog_version: get_str(headers, envelope::H_CATALOG_VERSION)
            .unwrap_or_default()
            .to_owned(),
        redelivered: delivery.redelivered,
        body: Some(body),
    }
}

/// What a subscription consumes and for whom.
pub(crate) struct Subscription {
    /// The authenticated party.
    pub party: String,
    /// Its queues.
    pub queues: Vec<String>,
    /// Unacked messages at most.
    pub max_in_flight: u16,
    /// The catalog (to decode case updates).
    pub catalog: Arc<Catalog>,
    /// Where ackers wait for `Ack`.
    pub pending: Pending,
    /// Ends the subscription.
    pub shutdown: Shutdown,
}

/// Opens the channel and starts pumping the queues into `tx`. The task
/// ends when the client goes away, the channel fails, or shutdown fires;
/// then the channel closes and the broker requeues whatever was not acked.
pub(crate) async fn open(
    amqp: &Amqp,
    subscription: Subscription,
    tx: mpsc::Sender<Result<SubscribeResponse, Status>>,
) -> Result<(), Status> {
    let Subscription {
        party,
        queues,
        max_in_flight,
        catalog,
        pending,
        shutdown,
    } = subscription;
    let unavailable =
        |e: String| Status::unavailable(format!("the broker is not available: {e}; retry later"));
    let channel = amqp
        .channel()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    channel
        .basic_qos(max_in_flight, BasicQosOptions::default())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let id: u64 = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut consumers = Vec::new();
    for queue in &queues {
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("feed-{party}-{id:x}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        consumers.push(consumer);
    }
    tracing::info!(party = %party, queues = ?queues, max_in_flight, "feed subscription opened");
    tokio::spawn(async move {
        let mut deliveries = select_all(consumers);
        let mut sent = 0u64;
        loop {
            let next = tokio::select! {
                next = deliveries.next() => next,
                () = tx.closed() => break,
                () = shutdown.cancelled() => break,
            };
            let Some(Ok(delivery)) = next else {
                let _ = tx
                    .send(Err(Status::unavailable(
                        "the queue connection was lost; subscribe again",
                    )))
                    .await;
                break;
            };
            let item = response(&catalog, &delivery);
            if let Ok(mut map) = pending.lock() {
                map.insert(
                    (party.clone(), item.message_id.clone()),
                    (id, delivery.acker.clone()),
                );
            }
            if tx.send(Ok(item)).await.is_err() {
                break;
            }
            sent += 1;
        }
        if let Ok(mut map) = pending.lock() {
            map.retain(|_, (s, _)| *s != id);
        }
        let _ = channel.close(200, "subscription ended".into()).await;
        metrics::counter!("hub_feed_messages_sent_total", "party" => party.clone()).increment(sent);
        tracing::info!(party = %party, sent, "feed subscription closed");
    });
    Ok(())
}
