//! The authorisation matrix at work: decides one access to one dossier and
//! records it in the access log, allowed or denied, in the caller's
//! transaction (no log record, no access).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::caller::Caller;
use crate::rules::{self, Action, Denial, Scope};
use crate::store::{self, AccessRecord, Head};

/// An allowed access: the dossier and what it was allowed under.
pub(crate) struct Opened {
    pub(crate) head: Head,
    pub(crate) grant_id: Option<Uuid>,
}

/// Decides whether `caller` may do `action` on dossier `number` at `now`,
/// and logs the decision. The outer `Result` is the store; the inner one the
/// decision, so a denial is committed with its log record.
pub(crate) async fn open(
    conn: &mut PgConnection,
    caller: &Caller,
    number: &str,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Result<Opened, Denial>, sqlx::Error> {
    let head = store::head(&mut *conn, number).await?;
    let (decision, exemption_id, basis) = match caller {
        Caller::RecordsManager => {
            let decision = match head {
                None => Err(Denial::NotFound),
                Some(head) => {
                    rules::decide_records_manager(&head.facts(), action).map(|()| Opened {
                        head,
                        grant_id: None,
                    })
                }
            };
            (decision, None, "records_manager")
        }
        Caller::Person(person) => {
            let grants = store::active_grants(&mut *conn, person, now).await?;
            match head {
                None => {
                    // Only someone whose grant would cover the number learns
                    // that no such dossier exists.
                    let could_see = grants.iter().any(|g| {
                        g.nature.allows(action)
                            && match &g.scope {
                                Scope::All => true,
                                Scope::Dossier(n) => n == number,
                                Scope::DefenceBranch(_) | Scope::Unit(_) => false,
                            }
                    });
                    let denial = if could_see {
                        Denial::NotFound
                    } else {
                        Denial::NoActiveGrant
                    };
                    (Err(denial), None, "none")
                }
                Some(head) => {
                    let exemption = match head.archived_at {
                        Some(_) => store::exemption(&mut *conn, number, person, now).await?,
                        None => None,
                    };
                    match rules::decide(&head.facts(), action, &grants, exemption, now) {
                        Ok(allowed) => (
                            Ok(Opened {
                                head,
                                grant_id: Some(allowed.grant_id),
                            }),
                            allowed.exemption_id,
                            "grant",
                        ),
                        Err(denial) => (Err(denial), None, "none"),
                    }
                }
            }
        }
    };
    let reason = decision
        .as_ref()
        .err()
        .map(|d| d.code())
        .unwrap_or_default();
    let record = AccessRecord {
        actor: caller.actor(),
        personnel_number: Some(number),
        action: action.as_str(),
        allowed: decision.is_ok(),
        basis,
        grant_id: decision.as_ref().ok().and_then(|o| o.grant_id),
        exemption_id,
        reason,
    };
    store::log_access(conn, &record, now).await?;
    match &decision {
        Ok(opened) => tracing::info!(
            actor = %caller.actor(),
            dossier = %number,
            action = action.as_str(),
            grant_id = ?opened.grant_id,
            "dossier access allowed"
        ),
        Err(denial) => tracing::info!(
            actor = %caller.actor(),
            dossier = %number,
            action = action.as_str(),
            reason = denial.code(),
            "dossier access denied"
        ),
    }
    Ok(decision)
}
