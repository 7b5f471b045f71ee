//! `SearchProcessingLog`: every delivery about one person.

use chrono::{DateTime, Utc};
use hub_policy::pseudonym::SubjectId;
use hub_policy::{FieldViolation, PseudonymKey, bsn};
use hub_proto::operator::v1::operator_service_server::OperatorService;
use hub_proto::operator::v1::search_processing_log_request::Subject;
use hub_proto::operator::v1::{
    LoggedDelivery, SearchProcessingLogRequest, SearchProcessingLogResponse,
};
use prost_types::Timestamp;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::auth::{Action, Operators};

pub(crate) struct Service {
    pool: PgPool,
    key: PseudonymKey,
    operators: Operators,
}

impl Service {
    pub(crate) fn new(pool: PgPool, key: PseudonymKey, operators: Operators) -> Self {
        Self {
            pool,
            key,
            operators,
        }
    }
}

type Row = (
    DateTime<Utc>,
    String,
    String,
    Vec<String>,
    String,
    String,
    String,
    Vec<String>,
    i32,
    i32,
    String,
    String,
    String,
    String,
);

fn unavailable(error: sqlx::Error) -> Status {
    tracing::error!(error = %error, "processing log search failed");
    Status::unavailable("the processing log is not available; retry later")
}

#[tonic::async_trait]
impl OperatorService for Service {
    async fn search_processing_log(
        &self,
        request: Request<SearchProcessingLogRequest>,
    ) -> Result<Response<SearchProcessingLogResponse>, Status> {
        let user = self.operators.authorise(&request, Action::SearchSubject)?;
        let request = request.into_inner();
        let (column, pseudonym) = match request.subject {
            Some(Subject::Bsn(value)) => {
                if !bsn::is_valid(value.trim()) {
                    return Err(hub_core::grpc::invalid_argument(&[FieldViolation {
                        field: "bsn".to_owned(),
                        description: "is not a valid BSN (nine digits that pass the eleven test)"
                            .to_owned(),
                    }]));
                }
                (
                    "subject_pseudonym",
                    self.key.pseudonym(SubjectId::Bsn(value.trim())),
                )
            }
            Some(Subject::EmployeeId(value)) if !value.trim().is_empty() => (
                "employee_pseudonym",
                self.key.pseudonym(SubjectId::EmployeeId(value.trim())),
            ),
            _ => {
                return Err(hub_core::grpc::invalid_argument(&[FieldViolation {
                    field: "subject".to_owned(),
                    description: "give a bsn or an employee_id".to_owned(),
                }]));
            }
        };
        let limit = if request.limit == 0 {
            1_000
        } else {
            request.limit.min(10_000)
        };
        // `column` is one of two constants above, never input.
        let sql = format!(
            "SELECT logged_at, message_type, activity, purposes, legal_basis, source, recipient, categories,
                    fields_delivered, fields_removed, catalog_version, trace_id, ingress_message_id, egress_message_id
             FROM processing_log WHERE {column} = $1 ORDER BY logged_at, recipient LIMIT $2"
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&pseudonym)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO audit_log (actor, role, action, subject_ref, reason, detail) VALUES ($1, $2, 'search_processing_log', $3, $4, $5)",
        )
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(&pseudonym)
        .bind(request.reason.chars().take(500).collect::<String>())
        .bind(format!("{} records by {column}", rows.len()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        tracing::info!(operator = %user.name, records = rows.len(), "processing log searched by subject");
        let deliveries = rows
            .into_iter()
            .map(|r| LoggedDelivery {
                logged_at: Some(Timestamp {
                    seconds: r.0.timestamp(),
                    nanos: i32::try_from(r.0.timestamp_subsec_nanos()).unwrap_or(0),
                }),
                message_type: r.1,
                register_activity: r.2,
                purposes: r.3,
                legal_basis: r.4,
                source: r.5,
                recipient: r.6,
                categories: r.7,
                fields_delivered: r.8,
                fields_removed: r.9,
                catalog_version: r.10,
                trace_id: r.11,
                ingress_message_id: r.12,
                egress_message_id: r.13,
            })
            .collect();
        Ok(Response::new(SearchProcessingLogResponse { deliveries }))
    }
}
