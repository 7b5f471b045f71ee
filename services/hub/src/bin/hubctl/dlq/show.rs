//! `hubctl dlq show ID [--reveal --reason ...]`: one dead letter's
//! metadata and its payload's fields with their data categories; values
//! masked unless a privacy officer reveals them (audited by the hub).

use hub_proto::operator::v1 as pb;

use super::{Client, MASK, ShowArgs, status, table, time};
use crate::Failure;

pub(crate) async fn run(client: &mut Client, args: ShowArgs) -> Result<(), Failure> {
    let (dead_letter, payload, raw) = if args.reveal {
        let request = client.request(pb::RevealDeadLetterRequest {
            id: args.id,
            reason: args.reason.unwrap_or_default(),
        })?;
        let r = client
            .rpc()
            .reveal_dead_letter(request)
            .await
            .map_err(status)?
            .into_inner();
        (r.dead_letter, r.payload, r.raw_payload)
    } else {
        let request = client.request(pb::GetDeadLetterRequest { id: args.id })?;
        let r = client
            .rpc()
            .get_dead_letter(request)
            .await
            .map_err(status)?
            .into_inner();
        (r.dead_letter, r.payload, String::new())
    };
    let d = dead_letter.ok_or_else(|| Failure::new(1, "the hub sent no dead letter"))?;
    let key = d.key.clone().unwrap_or_default();
    println!("dead letter {}", d.id);
    let state = pb::DeadLetterState::try_from(d.state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("DEAD_LETTER_STATE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let facts = [
        ("state", state),
        ("origin queue", key.origin_queue),
        ("reason", key.reason),
        ("detail", d.detail.clone()),
        ("message type", key.message_type),
        ("message id", d.message_id.clone()),
        ("source", d.source.clone()),
        ("purposes", d.purposes.join(",")),
        ("attempts", d.attempts.to_string()),
        ("first failure", time(d.first_failure.as_ref())),
        ("last failure", time(d.last_failure.as_ref())),
        ("dead-lettered", time(d.dead_lettered_at.as_ref())),
        ("payload until", time(d.expires_at.as_ref())),
        ("content type", d.content_type.clone()),
        ("size", format!("{} bytes", d.size_bytes)),
        (
            "resolved",
            format!(
                "{} {} {}",
                time(d.resolved_at.as_ref()),
                d.resolved_by,
                d.resolution_note
            ),
        ),
    ];
    let rows: Vec<Vec<String>> = facts
        .into_iter()
        .map(|(k, v)| vec![format!("  {k}"), v])
        .collect();
    table(&rows);
    let Some(payload) = payload.filter(|_| d.payload_kept) else {
        println!("payload: removed (only the metadata is kept)");
        return Ok(());
    };
    if args.reveal {
        println!("payload (values revealed; this was recorded in the audit log)");
    } else {
        println!(
            "payload (values masked; a privacy officer can see them with --reveal --reason ...)"
        );
    }
    if !payload.decode_error.is_empty() {
        println!("  does not decode as its type: {}", payload.decode_error);
    }
    let mut rows = Vec::new();
    for f in &payload.fields {
        let value = if args.reveal {
            f.values.join(" | ")
        } else if f.count > 1 {
            format!("{MASK} ×{}", f.count)
        } else {
            MASK.to_owned()
        };
        rows.push(vec![format!("  {}", f.path), f.category.clone(), value]);
    }
    table(&rows);
    if !raw.is_empty() {
        println!("as text:\n{raw}");
    }
    Ok(())
}
