//! Publishing with confirms. A publish succeeds only when the broker
//! acknowledged it; a nack, an unroutable return, a blocked connection or a
//! missing confirm is an error, never a silent success.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;

use super::{Amqp, AmqpError};

/// Why a publish did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker is not reachable or the channel is gone; try again later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// No confirm within the timeout.
    #[error("no publisher confirm within {0:?}")]
    Timeout(Duration),
    /// The broker blocks publishers (memory or disk alarm).
    #[error("the broker blocks publishing (resource alarm)")]
    Blocked,
    /// The broker refused the message (a full queue with reject-publish).
    #[error("the broker refused the message (nack): a queue is full or unavailable")]
    Nacked,
    /// No queue is bound for the routing key.
    #[error("unroutable: {exchange}/{routing_key} returned {code} {text}")]
    Unroutable {
        /// Exchange published to.
        exchange: String,
        /// Routing key used.
        routing_key: String,
        /// AMQP reply code.
        code: u16,
        /// AMQP reply text.
        text: String,
    },
}

impl PublishError {
    /// True when the broker said no (as opposed to not answering).
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Blocked | Self::Nacked)
    }
}

impl From<AmqpError> for PublishError {
    fn from(error: AmqpError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A confirm-mode channel shared by a service's tasks. The channel is
/// replaced when the broker closed it (an invalid `user_id`, a restart).
pub struct Publisher {
    amqp: Amqp,
    channel: Mutex<Option<Channel>>,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Publisher {
    /// A publisher that waits at most `timeout` for each confirm.
    #[must_use]
    pub fn new(amqp: Amqp, timeout: Duration) -> Self {
        Self {
            amqp,
            channel: Mutex::new(None),
            timeout,
        }
    }

    /// The connection this publisher uses.
    #[must_use]
    pub fn amqp(&self) -> &Amqp {
        &self.amqp
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut slot = self.channel.lock().await;
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = self.amqp.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| PublishError::Unavailable(e.to_string()))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Publishes with `mandatory` set and waits for the confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        if self.amqp.is_blocked() {
            return Err(PublishError::Blocked);
        }
        let channel = self.channel().await?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let attempt = async {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    options,
                    payload,
                    properties,
                )
                .await
                .map_err(|e| PublishError::Unavailable(e.to_string()))?;
            confirm
                .await
                .map_err(|e| PublishError::Unavailable(e.to_string()))
        };
        let confirmation = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result?,
            Err(_) if self.amqp.is_blocked() => return Err(PublishError::Blocked),
            Err(_) => return Err(PublishError::Timeout(self.timeout)),
        };
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(PublishError::Unroutable {
                    exchange: exchange.to_owned(),
                    routing_key: routing_key.to_owned(),
                    code: returned.reply_code,
                    text: returned.reply_text.to_string(),
                })
            }
            Confirmation::Nack(None) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Err(PublishError::Unavailable(
                "the channel is not in confirm mode".to_owned(),
            )),
        }
    }
}
