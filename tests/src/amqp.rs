//! Talking to the broker as a party would: publishing as a party user,
//! reading queues, and building ingress messages.

use std::time::{Duration, Instant};

use hub_core::amqp::headers::{set_str, short_string};
use hub_core::envelope;
use lapin::message::BasicGetMessage;
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

use crate::TestEnv;

/// A plain connection (no recovery) with one confirm-mode channel.
pub struct PartyConnection {
    /// The connection.
    pub connection: Connection,
    /// A channel in confirm mode.
    pub channel: Channel,
}

impl PartyConnection {
    /// Connects to `url`.
    pub async fn open(url: &str) -> Result<Self, lapin::Error> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// Connects as `party` (its test password) to the test vhost.
    pub async fn as_party(env: &TestEnv, party: &str) -> Self {
        Self::open(&env.url_as(party))
            .await
            .unwrap_or_else(|e| panic!("connecting as {party}: {e}"))
    }

    /// Connects as the hub's own user (guest).
    pub async fn as_hub(env: &TestEnv) -> Self {
        Self::open(&env.amqp.url).await.unwrap()
    }

    /// Publishes and waits for the confirm; `Err` carries what the broker
    /// said (a closed channel, a nack, a return).
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        props: BasicProperties,
    ) -> Result<(), String> {
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = self
            .channel
            .basic_publish(exchange.into(), routing_key.into(), options, payload, props)
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(Duration::from_secs(10), confirm).await {
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(other)) => Err(format!("{other:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no confirm within 10 s".to_owned()),
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.connection.close(200, "test done".into()).await;
    }
}

/// An ingress message under construction.
#[derive(Clone, Debug)]
pub struct Ingress {
    /// `type` property.
    pub message_type: Option<String>,
    /// `user_id` property.
    pub user_id: Option<String>,
    /// `x-hub-purpose`.
    pub purposes: Option<String>,
    /// `x-hub-source` (only the hub may set it).
    pub source: Option<String>,
    /// `content_type`.
    pub content_type: Option<String>,
    /// `message_id`.
    pub message_id: Option<String>,
}

impl Ingress {
    /// A JSON message of `message_type` from `user`, for `purposes`.
    #[must_use]
    pub fn new(message_type: &str, user: &str, purposes: &str) -> Self {
        Self {
            message_type: Some(message_type.to_owned()),
            user_id: Some(user.to_owned()),
            purposes: Some(purposes.to_owned()),
            source: None,
            content_type: Some("application/json".to_owned()),
            message_id: Some(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// The AMQP properties.
    #[must_use]
    pub fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        if let Some(p) = &self.purposes {
            set_str(&mut headers, envelope::H_PURPOSE, p.as_str());
        }
        if let Some(s) = &self.source {
            set_str(&mut headers, envelope::H_SOURCE, s.as_str());
        }
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers);
        if let Some(t) = &self.message_type {
            props = props.with_type(short_string(t));
        }
        if let Some(u) = &self.user_id {
            props = props.with_user_id(short_string(u));
        }
        if let Some(c) = &self.content_type {
            props = props.with_content_type(short_string(c));
        }
        if let Some(m) = &self.message_id {
            props = props.with_message_id(short_string(m));
        }
        props
    }
}

/// Reads one message from `queue` (as the hub's user), waiting up to
/// `timeout`; the message is acked.
pub async fn get(env: &TestEnv, queue: &str, timeout: Duration) -> Option<BasicGetMessage> {
    let connection = PartyConnection::as_hub(env).await;
    let deadline = Instant::now() + timeout;
    let found = loop {
        let got = connection
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap_or_else(|e| panic!("basic.get {queue}: {e}"));
        if got.is_some() || Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    connection.close().await;
    found
}

/// Reads messages from `queue` until one satisfies `pick` (others are
/// dropped), waiting up to `timeout`.
pub async fn get_matching(
    env: &TestEnv,
    queue: &str,
    timeout: Duration,
    pick: impl Fn(&BasicGetMessage) -> bool,
) -> Option<BasicGetMessage> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = get(env, queue, left).await?;
        if pick(&message) {
            return Some(message);
        }
    }
}

/// A header of a delivered message as text.
#[must_use]
pub fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    hub_core::amqp::headers::get_str(message.delivery.properties.headers().as_ref(), name)
        .map(str::to_owned)
}

/// The message id of a delivered message.
#[must_use]
pub fn message_id(message: &BasicGetMessage) -> Option<String> {
    message
        .delivery
        .properties
        .message_id()
        .as_ref()
        .map(ToString::to_string)
}
