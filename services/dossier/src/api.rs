//! `DossierService` over gRPC: authenticates the caller, takes the time
//! once per call, and hands over to the module that owns the RPC. Errors
//! become statuses in `error.rs`.

use chrono::Utc;
use hub_proto::dossier::v1 as pb;
use hub_proto::dossier::v1::dossier_service_server::{DossierService, DossierServiceServer};
use sqlx::PgPool;
use tonic::service::RoutesBuilder;
use tonic::{Request, Response, Status};

use crate::caller::Identities;
use crate::{admin, matrix, requests, retention, subject, transfer};

pub(crate) fn add(
    pool: PgPool,
    identities: Identities,
    routes: &mut RoutesBuilder,
    max_bytes: usize,
) {
    routes.add_service(
        DossierServiceServer::new(Api { pool, identities }).max_decoding_message_size(max_bytes),
    );
}

struct Api {
    pool: PgPool,
    identities: Identities,
}

/// Authenticates, then runs `$handler(pool, &caller, request[, now])`.
macro_rules! serve {
    ($self:ident, $request:ident, $handler:path, with_now) => {{
        let caller = $self.identities.caller(&$request)?;
        $handler(&$self.pool, &caller, $request.into_inner(), Utc::now())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }};
    ($self:ident, $request:ident, $handler:path) => {{
        let caller = $self.identities.caller(&$request)?;
        $handler(&$self.pool, &caller, $request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }};
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl DossierService for Api {
    async fn get_dossier(
        &self,
        request: Request<pb::GetDossierRequest>,
    ) -> Reply<pb::GetDossierResponse> {
        serve!(self, request, matrix::get_dossier, with_now)
    }

    async fn add_entry(
        &self,
        request: Request<pb::AddEntryRequest>,
    ) -> Reply<pb::AddEntryResponse> {
        serve!(self, request, matrix::add_entry, with_now)
    }

    async fn get_dossier_report(
        &self,
        request: Request<pb::GetDossierReportRequest>,
    ) -> Reply<pb::GetDossierReportResponse> {
        serve!(self, request, matrix::report, with_now)
    }

    async fn create_grant(
        &self,
        request: Request<pb::CreateGrantRequest>,
    ) -> Reply<pb::CreateGrantResponse> {
        serve!(self, request, admin::create_grant, with_now)
    }

    async fn end_grant(
        &self,
        request: Request<pb::EndGrantRequest>,
    ) -> Reply<pb::EndGrantResponse> {
        serve!(self, request, admin::end_grant, with_now)
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Reply<pb::ListGrantsResponse> {
        serve!(self, request, admin::list_grants, with_now)
    }

    async fn record_approval(
        &self,
        request: Request<pb::RecordApprovalRequest>,
    ) -> Reply<pb::RecordApprovalResponse> {
        serve!(self, request, admin::record_approval, with_now)
    }

    async fn set_dossier_restriction(
        &self,
        request: Request<pb::SetDossierRestrictionRequest>,
    ) -> Reply<pb::SetDossierRestrictionResponse> {
        serve!(self, request, admin::set_restriction)
    }

    async fn record_exemption(
        &self,
        request: Request<pb::RecordExemptionRequest>,
    ) -> Reply<pb::RecordExemptionResponse> {
        serve!(self, request, admin::record_exemption, with_now)
    }

    async fn list_access_log(
        &self,
        request: Request<pb::ListAccessLogRequest>,
    ) -> Reply<pb::ListAccessLogResponse> {
        serve!(self, request, admin::list_access_log)
    }

    async fn inspect_own_dossier(
        &self,
        request: Request<pb::InspectOwnDossierRequest>,
    ) -> Reply<pb::InspectOwnDossierResponse> {
        let caller = self.identities.caller(&request)?;
        subject::inspect_own(&self.pool, &caller, Utc::now())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn record_death(
        &self,
        request: Request<pb::RecordDeathRequest>,
    ) -> Reply<pb::RecordDeathResponse> {
        serve!(self, request, subject::record_death, with_now)
    }

    async fn register_next_of_kin(
        &self,
        request: Request<pb::RegisterNextOfKinRequest>,
    ) -> Reply<pb::RegisterNextOfKinResponse> {
        serve!(self, request, subject::register_next_of_kin, with_now)
    }

    async fn inspect_deceased_dossier(
        &self,
        request: Request<pb::InspectDeceasedDossierRequest>,
    ) -> Reply<pb::InspectDeceasedDossierResponse> {
        serve!(self, request, subject::inspect_deceased, with_now)
    }

    async fn submit_subject_request(
        &self,
        request: Request<pb::SubmitSubjectRequestRequest>,
    ) -> Reply<pb::SubmitSubjectRequestResponse> {
        serve!(self, request, requests::submit, with_now)
    }

    async fn decide_subject_request(
        &self,
        request: Request<pb::DecideSubjectRequestRequest>,
    ) -> Reply<pb::DecideSubjectRequestResponse> {
        serve!(self, request, requests::decide, with_now)
    }

    async fn list_subject_requests(
        &self,
        request: Request<pb::ListSubjectRequestsRequest>,
    ) -> Reply<pb::ListSubjectRequestsResponse> {
        serve!(self, request, requests::list)
    }

    async fn record_transfer_consent(
        &self,
        request: Request<pb::RecordTransferConsentRequest>,
    ) -> Reply<pb::RecordTransferConsentResponse> {
        serve!(self, request, transfer::record_consent, with_now)
    }

    async fn transfer_dossier(
        &self,
        request: Request<pb::TransferDossierRequest>,
    ) -> Reply<pb::TransferDossierResponse> {
        serve!(self, request, transfer::transfer, with_now)
    }

    async fn record_employment_end(
        &self,
        request: Request<pb::RecordEmploymentEndRequest>,
    ) -> Reply<pb::RecordEmploymentEndResponse> {
        serve!(self, request, retention::record_end, with_now)
    }

    async fn sweep_retention(
        &self,
        request: Request<pb::SweepRetentionRequest>,
    ) -> Reply<pb::SweepRetentionResponse> {
        serve!(self, request, retention::sweep_rpc, with_now)
    }
}
