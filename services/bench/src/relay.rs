//! The relay: the hub's AMQP path with none of its work. It consumes
//! `hub.router` with the hub's consumer loop and prefetch, publishes two
//! copies of each message to `hub.egress` with the hub's publisher
//! (confirms, `mandatory`) and the headers and expiry of the router's
//! copies, and acks after both confirms: no checks, no minimising, no
//! processing log. Run against a vhost of its own with the hub's topology,
//! it measures what the broker allows for the hub's message flow on this
//! machine, so the hub's figure can be read against it: what the hub loses
//! to the broker, and what to its own work.

use std::sync::Arc;
use std::time::Duration;

use hub_core::amqp::consumer::{self, ConsumerSpec, Handler, Outcome, RetryPolicy};
use hub_core::amqp::headers::{get_str, set_str};
use hub_core::amqp::publisher::Publisher;
use hub_core::amqp::{Amqp, topology};
use hub_core::config::AmqpConfig;
use hub_core::envelope;
use hub_core::health::Health;
use hub_core::shutdown::{self, Shutdown};
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::FieldTable;

/// The two recipient queues of a case update declared for both purposes.
pub const QUEUES: [&str; 2] = ["processor.robidus", "processor.future-smart"];

/// Options of `hub-bench relay` (started by `hub-bench all`).
#[derive(clap::Args)]
pub struct Args {
    /// The broker, with the relay's own vhost.
    #[arg(long)]
    amqp_url: String,
    /// Consumer prefetch.
    #[arg(long, default_value_t = 64)]
    prefetch: u16,
    /// `x-max-length` of the queues (as the bench's hub vhost).
    #[arg(long, default_value_t = 1_000_000)]
    max_length: u32,
}

struct Relay {
    publisher: Arc<Publisher>,
    user: String,
}

impl Relay {
    /// The properties the router gives a copy: the same properties and
    /// headers, with values of the same length.
    fn copy_properties(&self, delivery: &Delivery, queue: &str) -> BasicProperties {
        let headers = delivery.properties.headers().as_ref();
        let ingress_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut out = FieldTable::default();
        set_str(
            &mut out,
            envelope::H_PURPOSE,
            get_str(headers, envelope::H_PURPOSE).unwrap_or_default(),
        );
        set_str(
            &mut out,
            envelope::H_LEGAL_BASIS,
            "wet_verbetering_poortwachter",
        );
        set_str(&mut out, envelope::H_ACTIVITY, "D2599");
        set_str(
            &mut out,
            envelope::H_SOURCE,
            get_str(headers, envelope::H_SOURCE).unwrap_or_default(),
        );
        set_str(&mut out, envelope::H_INGRESS_ID, ingress_id.as_str());
        set_str(&mut out, envelope::H_CATALOG_VERSION, "0123456789abcdef");
        set_str(
            &mut out,
            envelope::H_TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        BasicProperties::default()
            .with_message_id(envelope::egress_message_id(&ingress_id, queue).into())
            .with_type("reintegration.case_update.v1".into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_user_id(self.user.as_str().into())
            .with_timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0))
            .with_expiration("31536000000".into())
            .with_headers(out)
    }
}

impl Handler for Relay {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let publishes = QUEUES.map(|queue| {
            self.publisher.publish(
                envelope::EGRESS_EXCHANGE,
                queue,
                &delivery.data,
                self.copy_properties(delivery, queue),
            )
        });
        for result in futures_util::future::join_all(publishes).await {
            if let Err(error) = result {
                return Outcome::Transient(format!("egress publish: {error}"));
            }
        }
        Outcome::Ack
    }
}

/// `hub-bench relay`: declares the hub's topology in the given vhost and
/// relays until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = AmqpConfig {
        url: args.amqp_url,
        prefetch: args.prefetch,
        max_length: args.max_length,
        ..AmqpConfig::default()
    };
    let amqp = Amqp::connect(&config, "hub-bench-relay").await?;
    let channel = amqp.channel().await?;
    let settings = topology::TopologySettings {
        delivery_limit: config.delivery_limit,
        max_length: config.max_length,
        dead_letter_ttl: Duration::from_secs(14 * 24 * 3600),
    };
    topology::declare(&channel, QUEUES, &settings).await?;
    let _ = channel.close(200, "declared".into()).await;
    let publisher = Arc::new(Publisher::new(amqp.clone(), Duration::from_secs(10)));
    let relay = Arc::new(Relay {
        publisher: publisher.clone(),
        user: config.user(),
    });
    let spec = ConsumerSpec {
        queue: envelope::ROUTER_QUEUE.to_owned(),
        service: "relay",
        prefetch: config.prefetch,
        retry: RetryPolicy::default(),
        grace: Duration::from_secs(10),
    };
    let shutdown = Shutdown::new();
    shutdown::cancel_on_signals(shutdown.clone());
    consumer::run(
        amqp.clone(),
        publisher,
        spec,
        relay,
        Health::default(),
        shutdown,
    )
    .await;
    amqp.close().await;
    Ok(())
}
