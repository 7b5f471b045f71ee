//! `hubctl queues`: every hub queue with its counts, consumers and rates,
//! the services as the broker sees them, and the broker's alarms.

use hub_proto::operator::v1 as pb;

use crate::Failure;
use crate::dlq::{Client, status, table};

fn state(ready: bool) -> String {
    if ready { "ready" } else { "NOT READY" }.to_owned()
}

pub(crate) async fn run(server: &str, token: Option<&str>) -> Result<(), Failure> {
    let mut client = Client::connect(server, token).await?;
    let request = client.request(pb::GetOverviewRequest {})?;
    let overview = client
        .rpc()
        .get_overview(request)
        .await
        .map_err(status)?
        .into_inner();
    if !overview.broker_error.is_empty() {
        return Err(Failure::new(
            1,
            format!(
                "the broker's management API did not answer: {}",
                overview.broker_error
            ),
        ));
    }
    let mut rows = vec![
        [
            "queue",
            "ready",
            "unacked",
            "consumers",
            "publish/s",
            "deliver/s",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for q in &overview.queues {
        rows.push(vec![
            q.name.clone(),
            q.messages_ready.to_string(),
            q.messages_unacknowledged.to_string(),
            q.consumers.to_string(),
            format!("{:.1}", q.publish_rate),
            format!("{:.1}", q.deliver_rate),
        ]);
    }
    table(&rows);
    println!();
    let mut rows = vec![["service", "state", "detail"].map(str::to_owned).to_vec()];
    for s in &overview.services {
        rows.push(vec![s.name.clone(), state(s.ready), s.detail.clone()]);
    }
    table(&rows);
    println!();
    for node in &overview.nodes {
        let alarms: Vec<&str> = [(node.memory_alarm, "memory"), (node.disk_alarm, "disk")]
            .into_iter()
            .filter_map(|(raised, name)| raised.then_some(name))
            .collect();
        println!(
            "broker {}: {}, {}",
            node.name,
            if node.running {
                "running"
            } else {
                "NOT RUNNING"
            },
            if alarms.is_empty() {
                "no alarms".to_owned()
            } else {
                format!("ALARM: {} (publishers are blocked)", alarms.join(", "))
            }
        );
    }
    Ok(())
}
