//! The queries behind what operators do with dead letters: groups, lists,
//! one dead letter (masked or revealed) and discarding. Every method checks
//! the caller's role first.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{
    COLUMNS, DeadLetter, Discarded, Group, GroupKey, Inspected, Listing, Row, Selection, State,
};
use crate::auth::{Action, OperatorUser};
use crate::error::OpError;
use crate::ops::{Audit, Ops};
use crate::redact;

impl Ops {
    /// Open dead letters by group, largest first.
    pub async fn groups(&self, user: &OperatorUser) -> Result<Vec<Group>, OpError> {
        user.require(Action::View)?;
        type GroupRow = (
            String,
            String,
            String,
            i64,
            i64,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<GroupRow> =
            sqlx::query_as(
                "SELECT origin_queue, reason, coalesce(message_type, ''), count(*), count(payload),
                        min(coalesce(first_failure, dead_lettered_at)), max(coalesce(last_failure, dead_lettered_at))
                 FROM dead_letters WHERE state = 'open'
                 GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3",
            )
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Group {
                key: GroupKey {
                    origin_queue: r.0,
                    reason: r.1,
                    message_type: r.2,
                },
                count: r.3,
                retriable: r.4,
                first_seen: r.5,
                last_seen: r.6,
            })
            .collect())
    }

    /// Dead letters in `state`, of one group or all, oldest first.
    pub async fn list(
        &self,
        user: &OperatorUser,
        group: Option<&GroupKey>,
        state: State,
        limit: u32,
    ) -> Result<Listing, OpError> {
        user.require(Action::View)?;
        let limit = if limit == 0 { 100 } else { limit.min(1_000) };
        let filter = "state = $1 AND ($2::text IS NULL
                      OR (origin_queue = $2 AND reason = $3 AND coalesce(message_type, '') = $4))";
        let (queue, reason, message_type) = match group {
            Some(k) => (
                Some(k.origin_queue.as_str()),
                k.reason.as_str(),
                k.message_type.as_str(),
            ),
            None => (None, "", ""),
        };
        // `filter` and `COLUMNS` are constants, never input.
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM dead_letters WHERE {filter} ORDER BY dead_lettered_at, id LIMIT $5"
        )))
        .bind(state.as_str())
        .bind(queue)
        .bind(reason)
        .bind(message_type)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM dead_letters WHERE {filter}"
        )))
        .bind(state.as_str())
        .bind(queue)
        .bind(reason)
        .bind(message_type)
        .fetch_one(&self.pool)
        .await?;
        Ok(Listing {
            dead_letters: rows.into_iter().map(DeadLetter::from).collect(),
            total,
        })
    }

    async fn load(&self, id: &str) -> Result<(DeadLetter, Option<Vec<u8>>), OpError> {
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| OpError::invalid("id", "is not a dead-letter id (a UUID)"))?;
        let row: Option<RowWithPayload> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, payload FROM dead_letters WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let RowWithPayload { row, payload } =
            row.ok_or_else(|| OpError::NotFound(format!("no dead letter {id}")))?;
        Ok((row.into(), payload))
    }

    /// One dead letter, its payload redacted: field names with their data
    /// category, no values.
    pub async fn inspect(&self, user: &OperatorUser, id: &str) -> Result<Inspected, OpError> {
        user.require(Action::View)?;
        let (dead_letter, payload) = self.load(id).await?;
        let payload = payload.map(|bytes| {
            redact::redact(&self.catalog, &dead_letter, &bytes, redact::Mode::Masked).0
        });
        Ok(Inspected {
            dead_letter,
            payload,
            raw_payload: None,
        })
    }

    /// One dead letter with its values, for the privacy officer. The reveal
    /// is recorded in the audit log before any value is returned.
    pub async fn reveal(
        &self,
        user: &OperatorUser,
        id: &str,
        reason: &str,
    ) -> Result<Inspected, OpError> {
        user.require(Action::Reveal)?;
        if reason.trim().is_empty() {
            return Err(OpError::invalid("reason", "say why the values are needed"));
        }
        let (dead_letter, payload) = self.load(id).await?;
        let bytes = payload.ok_or_else(|| {
            OpError::Precondition(format!(
                "the payload of dead letter {} is gone ({})",
                dead_letter.id,
                dead_letter.state.as_str()
            ))
        })?;
        let subject = format!("dead_letter:{}", dead_letter.id);
        let detail = format!(
            "message {} ({}) from {}",
            dead_letter.message_id, dead_letter.key.message_type, dead_letter.key.origin_queue
        );
        Self::audit(
            &self.pool,
            user,
            Audit {
                action: "reveal_dead_letter",
                subject_ref: Some(&subject),
                reason: reason.trim(),
                detail: &detail,
            },
        )
        .await?;
        tracing::info!(operator = %user.name, dead_letter = %dead_letter.id, "dead-letter values revealed");
        let (payload, raw_payload) =
            redact::redact(&self.catalog, &dead_letter, &bytes, redact::Mode::Revealed);
        Ok(Inspected {
            dead_letter,
            payload: Some(payload),
            raw_payload,
        })
    }

    /// Discards open dead letters: the payload goes, the metadata stays with
    /// who discarded it and why. One transaction with its audit record.
    pub async fn discard(
        &self,
        user: &OperatorUser,
        selection: &Selection,
        reason: &str,
    ) -> Result<Discarded, OpError> {
        user.require(Action::Act)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(OpError::invalid(
                "reason",
                "say why the dead letters are discarded",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let update =
            "UPDATE dead_letters SET state = 'discarded', payload = NULL, resolved_at = now(),
                          resolved_by = $1, resolution_note = $2
                      WHERE state = 'open' AND ";
        let (discarded, selected) = match selection {
            Selection::Ids(ids) => {
                let done = sqlx::query(sqlx::AssertSqlSafe(format!("{update} id = ANY($3)")))
                    .bind(&user.name)
                    .bind(reason)
                    .bind(ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (done, ids.len() as u64)
            }
            Selection::Group(key) => {
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{update} origin_queue = $3 AND reason = $4 AND coalesce(message_type, '') = $5"
                )))
                .bind(&user.name)
                .bind(reason)
                .bind(&key.origin_queue)
                .bind(&key.reason)
                .bind(&key.message_type)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (done, done)
            }
        };
        let detail = format!("{discarded} discarded: {}", selection.describe());
        Self::audit(
            &mut *tx,
            user,
            Audit {
                action: "discard_dead_letters",
                subject_ref: None,
                reason,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(operator = %user.name, discarded, "dead letters discarded");
        Ok(Discarded {
            discarded: u32::try_from(discarded).unwrap_or(u32::MAX),
            skipped: u32::try_from(selected.saturating_sub(discarded)).unwrap_or(u32::MAX),
        })
    }
}

/// A row with its payload.
struct RowWithPayload {
    row: Row,
    payload: Option<Vec<u8>>,
}

impl<'r> FromRow<'r, sqlx::postgres::PgRow> for RowWithPayload {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            row: Row::from_row(row)?,
            payload: row.try_get("payload")?,
        })
    }
}
