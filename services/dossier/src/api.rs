//! `DossierService` over gRPC.

use hub_core::auth::Credentials;
use hub_proto::dossier::v1::dossier_service_server::{DossierService, DossierServiceServer};
use hub_proto::dossier::v1::{Dossier, Entry, GetDossierRequest, GetDossierResponse};
use prost_types::Timestamp;
use sqlx::PgPool;
use tonic::service::RoutesBuilder;
use tonic::{Request, Response, Status};

/// The identity allowed to read dossiers until the authorisation matrix
/// (art 7) is in place.
pub const ADMIN: &str = "admin";

pub(crate) fn add(
    pool: PgPool,
    credentials: Credentials,
    routes: &mut RoutesBuilder,
    max_bytes: usize,
) {
    routes.add_service(
        DossierServiceServer::new(Api { pool, credentials }).max_decoding_message_size(max_bytes),
    );
}

struct Api {
    pool: PgPool,
    credentials: Credentials,
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn internal(error: sqlx::Error) -> Status {
    tracing::error!(error = %error, "dossier read failed");
    Status::unavailable("the dossier store is not available; retry later")
}

#[tonic::async_trait]
impl DossierService for Api {
    async fn get_dossier(
        &self,
        request: Request<GetDossierRequest>,
    ) -> Result<Response<GetDossierResponse>, Status> {
        let caller = self.credentials.authenticate(&request)?;
        if caller != ADMIN {
            return Err(Status::permission_denied(
                "reading dossiers needs the admin token",
            ));
        }
        let number = request.into_inner().personnel_number;
        let head: Option<(String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT personnel_number, status, created_at FROM dossiers WHERE personnel_number = $1",
        )
        .bind(&number)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        let Some((personnel_number, status, created_at)) = head else {
            return Err(Status::not_found("no dossier with that personnel number"));
        };
        let rows: Vec<(
            uuid::Uuid,
            String,
            String,
            String,
            chrono::DateTime<chrono::Utc>,
            serde_json::Value,
        )> = sqlx::query_as(
            "SELECT entry_id, hr_process, category, source_message_id, recorded_at, content
             FROM dossier_entries WHERE personnel_number = $1 ORDER BY recorded_at, category",
        )
        .bind(&number)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let entries = rows
            .into_iter()
            .map(
                |(id, hr_process, category, source, recorded_at, content)| Entry {
                    entry_id: id.to_string(),
                    hr_process,
                    category,
                    source_message_id: source,
                    recorded_at: Some(timestamp(recorded_at)),
                    content_json: content.to_string(),
                },
            )
            .collect();
        tracing::info!(caller = %caller, "dossier read");
        Ok(Response::new(GetDossierResponse {
            dossier: Some(Dossier {
                personnel_number,
                status,
                created_at: Some(timestamp(created_at)),
                entries,
            }),
        }))
    }
}
