//! gRPC plumbing: serving on a pre-bound listener with health and
//! reflection, and the one place that turns validation failures into
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` details.

use hub_policy::FieldViolation;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::RoutesBuilder;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::shutdown::Shutdown;

/// `INVALID_ARGUMENT` listing each field violation as `BadRequest` details.
#[must_use]
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let summary = violations
        .iter()
        .map(|v| v.field.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid fields: {summary}"),
        details,
    )
}

/// Adds `grpc.health.v1` (reporting each named service as serving) and
/// server reflection over the hub's descriptors.
pub async fn add_health_and_reflection(
    routes: &mut RoutesBuilder,
    services: &[&str],
) -> Result<(), String> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in services {
        reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hub_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    routes.add_service(health);
    routes.add_service(reflection);
    Ok(())
}

/// Serves `routes` on `listener` until `shutdown` fires; in-flight calls
/// finish first.
pub async fn serve(
    listener: TcpListener,
    routes: RoutesBuilder,
    shutdown: Shutdown,
) -> Result<(), String> {
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, "grpc listening");
    tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await
        .map_err(|e| format!("grpc server on {local}: {e}"))
}
