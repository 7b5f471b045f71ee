//! Applying onboarding data: one transaction holds the inbox row and the
//! dossier entries, so a redelivered message changes nothing.

use chrono::Utc;
use hub_core::amqp::consumer::{Handler, Outcome};
use hub_core::amqp::headers::short;
use hub_core::db::{DbFailure, classify};
use hub_core::envelope::reason;
use hub_policy::pseudonym::SubjectId;
use hub_policy::{ContentType, PseudonymKey, payload};
use hub_proto::wens::v1::HireEvent;
use lapin::message::Delivery;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::rules::Restriction;

const CONSUMER: &str = "dossier";
const HIRE_TYPE: &str = "wens.hire.v1";

/// Files onboarding data in the dossier.
pub struct Applier {
    pool: PgPool,
    key: PseudonymKey,
    hub_user: String,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Applier")
    }
}

/// One dossier entry: HR process, art 13 category, content.
struct Entry {
    category: &'static str,
    content: Value,
}

/// The entries of a hire event, each under `instroom`. Built from named
/// fields only: whatever else a message might carry is never stored.
fn entries(event: &HireEvent) -> Vec<Entry> {
    let c = event.candidate.clone().unwrap_or_default();
    let a = event.appointment.clone().unwrap_or_default();
    let address = c.address.clone().unwrap_or_default();
    vec![
        Entry {
            category: "art13.1",
            content: json!({
                "candidate_id": c.candidate_id, "bsn": c.bsn, "initials": c.initials,
                "first_names": c.first_names, "surname": c.surname, "title": c.title,
                "gender": c.gender, "birth_date": c.birth_date, "civil_status": c.civil_status,
                "address": {
                    "street": address.street, "house_number": address.house_number,
                    "postal_code": address.postal_code, "city": address.city, "country": address.country,
                },
                "phone": c.phone, "email": c.email, "bank_account": c.bank_account,
            }),
        },
        Entry {
            category: "art13.3",
            content: json!({ "birth_place": c.birth_place, "nationality": c.nationality }),
        },
        Entry {
            category: "art13.6",
            content: json!({
                "education": c.education.iter().map(|e| json!({
                    "institution": e.institution, "programme": e.programme, "level": e.level, "completed_on": e.completed_on,
                })).collect::<Vec<_>>(),
                "qualifications": c.qualifications.iter().map(|q| json!({
                    "name": q.name, "issuer": q.issuer, "obtained_on": q.obtained_on,
                })).collect::<Vec<_>>(),
            }),
        },
        Entry {
            category: "art13.7",
            content: json!({
                "references": c.references.iter().map(|r| json!({
                    "name": r.name, "relation": r.relation, "phone": r.phone,
                })).collect::<Vec<_>>(),
                "cv_document": c.cv_document.as_ref().map(|d| json!({
                    "file_name": d.file_name, "media_type": d.media_type, "size_bytes": d.content.len(),
                })),
                "motivation": c.motivation,
            }),
        },
        Entry {
            category: "art13.8",
            content: json!({
                "vacancy_id": event.vacancy_id, "vacancy_title": event.vacancy_title,
                "personnel_number": a.personnel_number, "defence_branch": a.defence_branch, "unit": a.unit,
                "function_title": a.function_title, "function_code": a.function_code, "rank": a.rank,
                "salary_scale": a.salary_scale, "start_date": a.start_date, "contract_type": a.contract_type,
                "hours_per_week": a.hours_per_week,
            }),
        },
        Entry {
            category: "art13.10",
            content: json!({
                "work_experience": c.work_experience.iter().map(|w| json!({
                    "employer": w.employer, "role": w.role, "from_date": w.from_date, "until_date": w.until_date,
                })).collect::<Vec<_>>(),
            }),
        },
    ]
}

impl Applier {
    /// An applier writing to `pool`; only messages published by `hub_user`
    /// (the router) are accepted.
    #[must_use]
    pub fn new(pool: PgPool, key: PseudonymKey, hub_user: String) -> Self {
        Self {
            pool,
            key,
            hub_user,
        }
    }

    fn decode(&self, delivery: &Delivery) -> Result<(String, HireEvent), Outcome> {
        let props = &delivery.properties;
        if short(props.user_id()) != Some(self.hub_user.as_str()) {
            return Err(Outcome::dead_letter(
                reason::UNAUTHORISED_SOURCE,
                "the dossier accepts onboarding data from the hub's router only",
            ));
        }
        if short(props.kind()) != Some(HIRE_TYPE) {
            return Err(Outcome::dead_letter(
                reason::UNKNOWN_MESSAGE_TYPE,
                "dossier.onboarding takes wens.hire.v1 only",
            ));
        }
        let message_id = short(props.message_id())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Outcome::dead_letter(reason::INVALID_PAYLOAD, "no message_id"))?
            .to_owned();
        let invalid =
            |e: payload::PayloadError| Outcome::dead_letter(reason::INVALID_PAYLOAD, e.to_string());
        let content_type = ContentType::parse(short(props.content_type())).map_err(invalid)?;
        let schema = hub_proto::DESCRIPTOR_POOL
            .get_message_by_name("hub.wens.v1.HireEvent")
            .ok_or_else(|| Outcome::Transient("descriptor pool lacks HireEvent".to_owned()))?;
        let message = payload::decode(&schema, content_type, &delivery.data).map_err(invalid)?;
        let event: HireEvent = message.transcode_to().map_err(|e| {
            Outcome::dead_letter(reason::INVALID_PAYLOAD, payload::sanitize(&e.to_string()))
        })?;
        if event
            .appointment
            .as_ref()
            .is_none_or(|a| a.personnel_number.is_empty())
        {
            return Err(Outcome::dead_letter(
                reason::INVALID_PAYLOAD,
                "appointment.personnel_number is required",
            ));
        }
        Ok((message_id, event))
    }

    async fn apply(&self, message_id: &str, event: &HireEvent) -> Result<bool, sqlx::Error> {
        let candidate = event.candidate.clone().unwrap_or_default();
        let appointment = event.appointment.clone().unwrap_or_default();
        let subject = self.key.pseudonym(SubjectId::Bsn(&candidate.bsn));
        let entries = entries(event);
        let now = Utc::now();
        hub_core::with_tx!(self.pool, tx, {
            let fresh: bool = sqlx::query_scalar(
                "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
                 ON CONFLICT (consumer, message_id)
                 DO UPDATE SET duplicates = inbox.duplicates + 1, last_duplicate_at = now()
                 RETURNING xmax = 0",
            )
            .bind(CONSUMER)
            .bind(message_id)
            .fetch_one(&mut **tx)
            .await?;
            if !fresh {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO dossiers (personnel_number, subject_pseudonym, defence_branch, unit, rank, salary_scale, restriction)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (personnel_number) DO UPDATE SET
                    defence_branch = EXCLUDED.defence_branch, unit = EXCLUDED.unit, rank = EXCLUDED.rank,
                    salary_scale = EXCLUDED.salary_scale, updated_at = now(),
                    -- onboarding may restrict a dossier, never lift a restriction
                    restriction = CASE WHEN dossiers.restriction = 'none'
                                       THEN EXCLUDED.restriction ELSE dossiers.restriction END",
            )
            .bind(&appointment.personnel_number)
            .bind(&subject)
            .bind(&appointment.defence_branch)
            .bind(&appointment.unit)
            .bind(&appointment.rank)
            .bind(appointment.salary_scale)
            .bind(Restriction::from_onboarding(&appointment.defence_branch).as_str())
            .execute(&mut **tx)
            .await?;
            for entry in &entries {
                sqlx::query(
                    "INSERT INTO dossier_entries (personnel_number, hr_process, category, source_message_id, content, recorded_at)
                     VALUES ($1, 'instroom', $2, $3, $4, $5)",
                )
                .bind(&appointment.personnel_number)
                .bind(entry.category)
                .bind(message_id)
                .bind(&entry.content)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            Ok::<bool, sqlx::Error>(true)
        })
    }
}

impl Handler for Applier {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let (message_id, event) = match self.decode(delivery) {
            Ok(decoded) => decoded,
            Err(outcome) => return outcome,
        };
        match self.apply(&message_id, &event).await {
            Ok(true) => {
                metrics::counter!("hub_dossier_applied_total").increment(1);
                tracing::debug!(message_id = %message_id, "onboarding data filed under instroom");
                Outcome::Ack
            }
            Ok(false) => {
                metrics::counter!("hub_duplicates_total", "queue" => crate::QUEUE).increment(1);
                tracing::debug!(message_id = %message_id, "duplicate delivery, already applied");
                Outcome::Ack
            }
            Err(error) => match classify(&error) {
                DbFailure::Permanent => {
                    tracing::error!(message_id = %message_id, error = %error, "dossier write failed");
                    Outcome::Transient(format!("dossier write: {error}"))
                }
                _ => Outcome::Transient(format!("dossier write: {error}")),
            },
        }
    }
}
