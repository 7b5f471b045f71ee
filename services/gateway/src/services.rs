//! The gRPC services: each authenticates, validates its message type and
//! hands it to the shared ingest path.

use std::sync::Arc;

use chrono::Utc;
use hub_policy::FieldViolation;
use hub_policy::payload;
use hub_proto::reintegration::v1::case_update_service_server::{
    CaseUpdateService, CaseUpdateServiceServer,
};
use hub_proto::reintegration::v1::{
    SubmitCaseUpdateRequest, SubmitCaseUpdateResponse, SubmitSurveyResponseRequest,
    SubmitSurveyResponseResponse,
};
use hub_proto::wens::v1::hire_event_service_server::{HireEventService, HireEventServiceServer};
use hub_proto::wens::v1::{SubmitHireEventRequest, SubmitHireEventResponse};
use prost::Message;
use tonic::service::RoutesBuilder;
use tonic::{Request, Response, Status};

use crate::ingest::{Ingest, Submission};

/// Adds the gateway's services, each limited to `max_bytes` per request.
pub(crate) fn add(ingest: Arc<Ingest>, routes: &mut RoutesBuilder, max_bytes: usize) {
    routes.add_service(
        HireEventServiceServer::new(HireEvents(ingest.clone()))
            .max_decoding_message_size(max_bytes),
    );
    routes.add_service(
        CaseUpdateServiceServer::new(CaseUpdates(ingest)).max_decoding_message_size(max_bytes),
    );
}

/// The `traceparent` metadata of a gRPC request, if any.
pub fn traceparent<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn missing(field: &str) -> Vec<FieldViolation> {
    vec![FieldViolation {
        field: field.to_owned(),
        description: "is required".to_owned(),
    }]
}

struct HireEvents(Arc<Ingest>);

#[tonic::async_trait]
impl HireEventService for HireEvents {
    async fn submit_hire_event(
        &self,
        request: Request<SubmitHireEventRequest>,
    ) -> Result<Response<SubmitHireEventResponse>, Status> {
        let party = self.0.caller(&request)?;
        let trace = traceparent(&request);
        let request = request.into_inner();
        let (event, violations) = match request.event {
            Some(event) => {
                let violations = payload::validate_hire_event(&event, Utc::now());
                (event, violations)
            }
            None => (Default::default(), missing("event")),
        };
        let message_id = self
            .0
            .submit(
                &party,
                trace.as_deref(),
                Submission {
                    message_type: "wens.hire.v1",
                    event_id: &event.event_id,
                    purposes: &[],
                    violations,
                    payload: event.encode_to_vec(),
                },
            )
            .await?;
        Ok(Response::new(SubmitHireEventResponse { message_id }))
    }
}

struct CaseUpdates(Arc<Ingest>);

#[tonic::async_trait]
impl CaseUpdateService for CaseUpdates {
    async fn submit_case_update(
        &self,
        request: Request<SubmitCaseUpdateRequest>,
    ) -> Result<Response<SubmitCaseUpdateResponse>, Status> {
        let party = self.0.caller(&request)?;
        let trace = traceparent(&request);
        let request = request.into_inner();
        let (update, violations) = match request.update {
            Some(update) => {
                let violations = payload::validate_case_update(&update, Utc::now());
                (update, violations)
            }
            None => (Default::default(), missing("update")),
        };
        let message_id = self
            .0
            .submit(
                &party,
                trace.as_deref(),
                Submission {
                    message_type: "reintegration.case_update.v1",
                    event_id: &update.event_id,
                    purposes: &request.purposes,
                    violations,
                    payload: update.encode_to_vec(),
                },
            )
            .await?;
        Ok(Response::new(SubmitCaseUpdateResponse { message_id }))
    }

    async fn submit_survey_response(
        &self,
        request: Request<SubmitSurveyResponseRequest>,
    ) -> Result<Response<SubmitSurveyResponseResponse>, Status> {
        let party = self.0.caller(&request)?;
        let trace = traceparent(&request);
        let request = request.into_inner();
        let (response, violations) = match request.response {
            Some(response) => {
                let violations = payload::validate_survey_response(&response, Utc::now());
                (response, violations)
            }
            None => (Default::default(), missing("response")),
        };
        let message_id = self
            .0
            .submit(
                &party,
                trace.as_deref(),
                Submission {
                    message_type: "reintegration.survey_response.v1",
                    event_id: &response.event_id,
                    purposes: &request.purposes,
                    violations,
                    payload: response.encode_to_vec(),
                },
            )
            .await?;
        Ok(Response::new(SubmitSurveyResponseResponse { message_id }))
    }
}
