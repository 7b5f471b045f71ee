//! The measured flows: raw broker, hub at saturation and paced, gRPC ingest.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hub_core::amqp::headers::{get_str, set_str};
use hub_core::envelope;
use hub_policy::samples;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, PublisherConfirm};
use prost_reflect::DynamicMessage;

use crate::cpu::Snapshot;
use crate::env::BenchEnv;
use crate::procs::Service;
use crate::report::{Latency, Report};

/// Options of `hub-bench all`.
#[derive(clap::Args)]
pub struct Args {
    /// The catalog.
    #[arg(long, default_value = "policy/catalog.toml")]
    catalog: PathBuf,
    /// RabbitMQ host:port.
    #[arg(long, default_value = "127.0.0.1:5672")]
    broker: String,
    /// PostgreSQL server URL (without database).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// RabbitMQ management API.
    #[arg(long, default_value = "http://127.0.0.1:15672")]
    api: String,
    /// Messages per saturation run.
    #[arg(long, default_value_t = 20_000)]
    messages: u32,
    /// Seconds of the run at a fixed rate.
    #[arg(long, default_value_t = 10)]
    paced_seconds: u32,
    /// The fixed rate of the paced run, messages per second (the goal is
    /// stated at 1,000; a lower rate shows the hub's path without queueing).
    #[arg(long, default_value_t = 1_000)]
    paced_rate: u32,
    /// gRPC requests.
    #[arg(long, default_value_t = 5_000)]
    grpc_requests: u32,
    /// gRPC requests in flight at once.
    #[arg(long, default_value_t = 32)]
    grpc_concurrency: usize,
    /// Publisher confirms awaited at most this many at a time.
    #[arg(long, default_value_t = 512)]
    window: usize,
    /// Consumer prefetch (the hub's default).
    #[arg(long, default_value_t = 64)]
    prefetch: u16,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every message of the paced run as CSV to this file: queue,
    /// ingress id, ms from the run's start at sending, ms when the router
    /// began its log write, ms at receipt (to find where the tail comes from).
    #[arg(long)]
    pub trace: Option<PathBuf>,
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The send time encoded in a message id `bench-<seq>-<nanos>`.
fn sent_at(id: &str) -> Option<u128> {
    id.rsplit('-').next()?.parse().ok()
}

fn case_json(env: &BenchEnv, seq: u32) -> anyhow::Result<Vec<u8>> {
    let schema = env
        .catalog
        .message_type("reintegration.case_update.v1")
        .ok_or_else(|| anyhow::anyhow!("no case update type"))?
        .schema
        .clone();
    let mut message = DynamicMessage::new(schema);
    message.transcode_from(&samples::case_update(seq % 100_000, u64::from(seq) + 1))?;
    Ok(serde_json::to_vec(&message)?)
}

async fn connect(url: &str) -> anyhow::Result<(Connection, Channel)> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

/// Publishes `count` messages (at `rate` per second, or as fast as confirms
/// allow), keeping at most `window` confirms outstanding.
async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    count: u32,
    rate: Option<u32>,
    window: usize,
    message: impl Fn(u32) -> (Vec<u8>, BasicProperties),
) -> anyhow::Result<()> {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut pending: VecDeque<PublisherConfirm> = VecDeque::new();
    let start = tokio::time::Instant::now();
    for seq in 0..count {
        if let Some(rate) = rate {
            tokio::time::sleep_until(
                start + Duration::from_secs_f64(f64::from(seq) / f64::from(rate)),
            )
            .await;
        }
        let (payload, props) = message(seq);
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                &payload,
                props,
            )
            .await?;
        pending.push_back(confirm);
        while pending.len() > window {
            if let Some(oldest) = pending.pop_front() {
                anyhow::ensure!(oldest.await?.is_ack(), "the broker refused a publish");
            }
        }
    }
    for confirm in pending {
        anyhow::ensure!(confirm.await?.is_ack(), "the broker refused a publish");
    }
    Ok(())
}

/// One consumed message: its id (or ingress id), when it was sent and when
/// it arrived (nanoseconds since the Unix epoch).
pub struct Received {
    pub queue: &'static str,
    pub id: String,
    pub sent: u128,
    pub at: u128,
}

impl Received {
    fn latency_ms(&self) -> f64 {
        self.at.saturating_sub(self.sent) as f64 / 1e6
    }
}

fn latency_of(received: &[Received]) -> Latency {
    Latency::of(received.iter().map(Received::latency_ms).collect())
}

/// Consumes `count` messages from `queue`, acking each; returns each
/// message's send and receipt time (the send time is in the id) and when
/// the last came.
async fn consume(
    url: String,
    queue: &'static str,
    count: u32,
    prefetch: u16,
    id_header: Option<&'static str>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<(Vec<Received>, Instant)> {
    let (connection, channel) = connect(&url).await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    // Publishing starts only when every consumer is attached, so the time
    // to connect is not measured as latency.
    let _ = ready.send(());
    let mut latencies = Vec::with_capacity(count as usize);
    let mut last = Instant::now();
    while latencies.len() < count as usize {
        let delivery = tokio::time::timeout(Duration::from_secs(120), consumer.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{queue}: nothing for 120 s after {} messages",
                    latencies.len()
                )
            })?
            .ok_or_else(|| anyhow::anyhow!("{queue}: consumer ended"))??;
        let id = match id_header {
            Some(header) => {
                get_str(delivery.properties.headers().as_ref(), header).map(str::to_owned)
            }
            None => delivery
                .properties
                .message_id()
                .as_ref()
                .map(ToString::to_string),
        };
        if let Some((id, sent)) = id.and_then(|id| sent_at(&id).map(|sent| (id, sent))) {
            latencies.push(Received {
                queue,
                id,
                sent,
                at: now_nanos(),
            });
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
        last = Instant::now();
    }
    let _ = connection.close(200, "done".into()).await;
    Ok((latencies, last))
}

fn props(id: String, extra: impl FnOnce(&mut FieldTable)) -> BasicProperties {
    let mut headers = FieldTable::default();
    extra(&mut headers);
    BasicProperties::default()
        .with_message_id(ShortString::from(id))
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers)
}

async fn raw(env: &BenchEnv, args: &Args, payload: &[u8]) -> anyhow::Result<(f64, Latency)> {
    let url = env.amqp.url.clone();
    let (connection, channel) = connect(&url).await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            "bench.raw".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        )
        .await?;
    let (ready, attached) = tokio::sync::oneshot::channel();
    let consumer = tokio::spawn(consume(
        url.clone(),
        "bench.raw",
        args.messages,
        args.prefetch,
        None,
        ready,
    ));
    if attached.await.is_err() {
        consumer.await??;
        anyhow::bail!("the raw consumer did not attach");
    }
    let start = Instant::now();
    let payload = payload.to_vec();
    publish(
        &channel,
        "",
        "bench.raw",
        args.messages,
        None,
        args.window,
        |seq| {
            (
                payload.clone(),
                props(format!("bench-{seq}-{}", now_nanos()), |_| {}),
            )
        },
    )
    .await?;
    let (received, last) = consumer.await??;
    let _ = connection.close(200, "done".into()).await;
    Ok((
        f64::from(args.messages) / (last - start).as_secs_f64(),
        latency_of(&received),
    ))
}

/// Waits until `queue` has a consumer (the router, or the relay, attached;
/// either declares the topology first), so that its start-up is not
/// measured as the first messages' latency.
async fn wait_for_consumer(url: &str, queue: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    loop {
        // A passive declare answers with the consumer count at once (the
        // management API lags by its statistics interval); the broker
        // closes the channel when the queue is not there yet, so each try
        // takes a new one.
        let channel = connection.create_channel().await?;
        let found = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|q| q.consumer_count())
            .unwrap_or(0);
        if found > 0 {
            let _ = connection.close(200, "done".into()).await;
            return Ok(());
        }
        let _ = channel.close(200, "again".into()).await;
        anyhow::ensure!(
            Instant::now() < deadline,
            "{queue} has no consumer after 60 s: did the router (or the relay) start?"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn through_hub(
    env: &BenchEnv,
    url: &str,
    args: &Args,
    count: u32,
    rate: Option<u32>,
) -> anyhow::Result<(f64, Vec<Received>)> {
    wait_for_consumer(url, envelope::ROUTER_QUEUE).await?;
    let mut consumers = Vec::new();
    let mut attached = Vec::new();
    for queue in crate::relay::QUEUES {
        let (ready, attach) = tokio::sync::oneshot::channel();
        attached.push(attach);
        consumers.push(tokio::spawn(consume(
            url.to_owned(),
            queue,
            count,
            args.prefetch,
            Some(envelope::H_INGRESS_ID),
            ready,
        )));
    }
    for (attach, consumer) in attached.into_iter().zip(&mut consumers) {
        if attach.await.is_err() {
            consumer.await??;
            anyhow::bail!("a processor-queue consumer did not attach");
        }
    }
    let (connection, channel) = connect(url).await?;
    let payloads: Vec<Vec<u8>> = (0..count.min(1_000))
        .map(|seq| case_json(env, seq))
        .collect::<anyhow::Result<_>>()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let start = Instant::now();
    publish(
        &channel,
        envelope::INGRESS_EXCHANGE,
        "reintegration.case_update.v1",
        count,
        rate,
        args.window,
        |seq| {
            let props = props(format!("bench-{}-{seq}-{}", &run[..6], now_nanos()), |h| {
                set_str(
                    h,
                    envelope::H_PURPOSE,
                    "outflow_to_work,legal_reintegration_obligation",
                );
                // The bench publishes as the hub's own user (guest), the
                // way the gateway does, so it names the party it speaks for.
                set_str(h, envelope::H_SOURCE, "reintegration-tool");
            })
            .with_type("reintegration.case_update.v1".into())
            .with_user_id("guest".into());
            (payloads[(seq % 1_000) as usize].clone(), props)
        },
    )
    .await?;
    let mut received = Vec::new();
    let mut last = start;
    for consumer in consumers {
        let (mut r, at) = consumer.await??;
        received.append(&mut r);
        last = last.max(at);
    }
    let _ = connection.close(200, "done".into()).await;
    Ok((f64::from(count) / (last - start).as_secs_f64(), received))
}

async fn grpc_ingest(env: &BenchEnv, args: &Args, addr: &str) -> anyhow::Result<(f64, Latency)> {
    use hub_proto::reintegration::v1::SubmitCaseUpdateRequest;
    use hub_proto::reintegration::v1::case_update_service_client::CaseUpdateServiceClient;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?;
    let channel = loop {
        if let Ok(c) = channel.connect().await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = env;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.grpc_concurrency {
        let mut client = CaseUpdateServiceClient::new(channel.clone());
        let next = next.clone();
        let total = args.grpc_requests;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let seq = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seq >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let mut update = samples::case_update(seq % 100_000, 1);
                update.event_id = format!("grpc-bench-{seq}");
                let mut request = tonic::Request::new(SubmitCaseUpdateRequest {
                    update: Some(update),
                    purposes: vec![
                        "outflow_to_work".to_owned(),
                        "legal_reintegration_obligation".to_owned(),
                    ],
                });
                request.metadata_mut().insert(
                    "authorization",
                    "Bearer bench-token-of-reintegration-tool-0123".parse()?,
                );
                let sent = Instant::now();
                client.submit_case_update(request).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.append(&mut task.await??);
    }
    Ok((
        f64::from(args.grpc_requests) / start.elapsed().as_secs_f64(),
        Latency::of(latencies),
    ))
}

/// One run through the hub (or the relay) at `url`: its throughput, what
/// was received, and where the CPU went meanwhile (`pids`: the processes
/// under test).
struct Measured {
    rate: f64,
    received: Vec<Received>,
    cpu: crate::cpu::Usage,
}

async fn measure(
    env: &BenchEnv,
    url: &str,
    args: &Args,
    pids: &[(String, u32)],
    count: u32,
    rate: Option<u32>,
) -> anyhow::Result<Measured> {
    let before = Snapshot::take(pids);
    let (rate, received) = through_hub(env, url, args, count, rate).await?;
    Ok(Measured {
        rate,
        received,
        cpu: before.until(&Snapshot::take(pids)),
    })
}

/// The paced run's messages as CSV, with the time the router's log write
/// began for each (the transaction's `now()`), in ms from the first send.
async fn write_trace(
    env: &BenchEnv,
    path: &std::path::Path,
    received: &[Received],
) -> anyhow::Result<()> {
    let pool = hub_core::db::connect(&env.database).await?;
    let logged: Vec<(String, f64)> = sqlx::query_as(
        "SELECT ingress_message_id, extract(epoch FROM min(logged_at))::float8 * 1e3
         FROM processing_log GROUP BY ingress_message_id",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let logged: std::collections::HashMap<String, f64> = logged.into_iter().collect();
    let origin = received.iter().map(|r| r.sent).min().unwrap_or(0);
    let ms = |t: u128| t.saturating_sub(origin) as f64 / 1e6;
    let mut out = String::from("queue,ingress_id,sent_ms,logged_ms,received_ms\n");
    for r in received {
        let logged = logged
            .get(&r.id)
            .map_or_else(String::new, |t| format!("{:.3}", t - origin as f64 / 1e6));
        out.push_str(&format!(
            "{},{},{:.3},{},{:.3}\n",
            r.queue,
            r.id,
            ms(r.sent),
            logged,
            ms(r.at)
        ));
    }
    std::fs::write(path, out)?;
    eprintln!("trace of the paced run written to {}", path.display());
    Ok(())
}

async fn run(env: &BenchEnv, args: &Args) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let payload = case_json(env, 0)?;
    report.payload_bytes = payload.len();
    let free = |_: ()| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.to_string())
    };
    let prefetch = args.prefetch.to_string();
    let mut services = vec![Service::start(
        env,
        "router",
        &free(())?,
        &[("HUB_AMQP_PREFETCH", prefetch.clone())],
    )?];
    for command in ["dossier", "feed", "operator"] {
        services.push(Service::start(env, command, &free(())?, &[])?);
    }
    // The relay: the hub's AMQP path without its work, in a vhost of its
    // own with the hub's topology (it declares it before it consumes).
    let relay_url = env.relay_url().await?;
    let relay = Service::start_relay(&relay_url, args.prefetch, env.amqp.max_length)?;
    let relay_pids: Vec<(String, u32)> = relay
        .pid()
        .map(|p| vec![("hub-bench relay".to_owned(), p)])
        .unwrap_or_default();
    let pids: Vec<(String, u32)> = services
        .iter()
        .filter_map(|s| Some((format!("hub {}", s.name), s.pid()?)))
        .collect();

    // The paced runs go first, on a quiet broker: after a saturation burst
    // the broker and the database are busy for a while with its aftermath
    // (measured: p99 at 200/s 83 ms after a burst, 26 ms without).
    let paced = args.paced_rate * args.paced_seconds;
    let rate = Some(args.paced_rate);
    eprintln!(
        "hub at {} messages per second for {} s",
        args.paced_rate, args.paced_seconds
    );
    let hub = measure(env, &env.amqp.url, args, &pids, paced, rate).await?;
    report.paced_cpu = hub.cpu;
    report.paced_rate = hub.rate;
    report.paced_latency = latency_of(&hub.received);
    if let Some(path) = &args.trace {
        write_trace(env, path, &hub.received).await?;
    }
    eprintln!(
        "relay at {} messages per second for {} s",
        args.paced_rate, args.paced_seconds
    );
    let relayed = measure(env, &relay_url, args, &relay_pids, paced, rate).await?;
    report.relay_paced_cpu = relayed.cpu;
    report.relay_paced_rate = relayed.rate;
    report.relay_paced_latency = latency_of(&relayed.received);

    eprintln!(
        "raw broker: {} messages of {} bytes",
        args.messages,
        payload.len()
    );
    let before = Snapshot::take(&[]);
    let (raw_rate, raw_latency) = raw(env, args, &payload).await?;
    report.raw_cpu = before.until(&Snapshot::take(&[]));
    report.raw_throughput = raw_rate;
    report.raw_latency = raw_latency;

    eprintln!(
        "hub at saturation: {} case updates for both processors",
        args.messages
    );
    let hub = measure(env, &env.amqp.url, args, &pids, args.messages, None).await?;
    report.hub_cpu = hub.cpu;
    report.hub_throughput = hub.rate;
    report.hub_latency = latency_of(&hub.received);
    let pool = hub_core::db::connect(&env.database).await?;
    report.log_records = sqlx::query_scalar("SELECT count(*) FROM processing_log")
        .fetch_one(&pool)
        .await?;
    pool.close().await;

    eprintln!("relay at saturation: {} case updates", args.messages);
    let relayed = measure(env, &relay_url, args, &relay_pids, args.messages, None).await?;
    report.relay_cpu = relayed.cpu;
    report.relay_throughput = relayed.rate;
    report.relay_latency = latency_of(&relayed.received);
    relay.stop().await;

    // gRPC ingest without the router, so the broker only takes the ingest.
    let router = services.remove(0);
    report
        .peak_rss_mib
        .push((router.name.clone(), router.peak_rss_mib().unwrap_or(0.0)));
    router.stop().await;
    let addr = free(())?;
    let gateway = Service::start(
        env,
        "gateway",
        &addr,
        &[(
            "HUB_PARTY_TOKEN_REINTEGRATION_TOOL",
            "bench-token-of-reintegration-tool-0123".to_owned(),
        )],
    )?;
    eprintln!(
        "gRPC ingest: {} SubmitCaseUpdate, {} in flight",
        args.grpc_requests, args.grpc_concurrency
    );
    let (grpc_rate, grpc_latency) = grpc_ingest(env, args, &addr).await?;
    report.grpc_throughput = grpc_rate;
    report.grpc_latency = grpc_latency;
    services.push(gateway);
    for service in services {
        report
            .peak_rss_mib
            .push((service.name.clone(), service.peak_rss_mib().unwrap_or(0.0)));
        service.stop().await;
    }
    Ok(report)
}

/// `hub-bench all`.
pub async fn all(args: Args) -> anyhow::Result<()> {
    let env = BenchEnv::create(&args.catalog, &args.broker, &args.postgres, &args.api).await?;
    let result = run(&env, &args).await;
    env.remove().await;
    let mut report = result?;
    let minimiser = crate::minimiser::run(&crate::minimiser::Args::new(args.catalog.clone()))?;
    report.minimiser = minimiser
        .figures
        .iter()
        .map(|f| (f.name.clone(), f.ns_per_op))
        .collect();
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
    }
    Ok(())
}
