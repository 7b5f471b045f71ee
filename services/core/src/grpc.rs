//! gRPC plumbing: serving on a pre-bound listener with health and
//! reflection, and the one place that turns validation failures into
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` details.

use hub_policy::FieldViolation;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
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

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Gives two failures that tonic reports before a handler runs the status
/// the caller needs: a request over the size limit is `RESOURCE_EXHAUSTED`
/// (tonic says `OUT_OF_RANGE`), and a request that is not valid protobuf is
/// `INVALID_ARGUMENT` (tonic says `INTERNAL`, which would blame the hub).
pub fn precise_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    let mapped = match code.as_deref() {
        Some("11") if message.starts_with("Error, decoded message length too large") => Some((
            "8",
            format!(
                "the request is too large: {}",
                message.trim_start_matches("Error, decoded message length too large: ")
            ),
        )),
        Some("13") if message.contains("failed to decode Protobuf message") => {
            Some(("3", format!("the request is not valid protobuf: {message}")))
        }
        _ => None,
    };
    if let Some((code, message)) = mapped
        && let (Ok(code), Ok(message)) = (code.parse(), percent_encode(&message).parse())
    {
        headers.insert("grpc-status", code);
        headers.insert("grpc-message", message);
    }
    response
}

/// Serves `routes` on `listener` (over TLS when `tls` is given) until
/// `shutdown` fires; in-flight calls finish first.
pub async fn serve(
    listener: TcpListener,
    routes: RoutesBuilder,
    tls: Option<&crate::tls::TlsFiles>,
    shutdown: Shutdown,
) -> Result<(), String> {
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls.server_config()?)
            .map_err(|e| format!("grpc tls: {e}"))?;
    }
    tracing::info!(addr = %local, tls = tls.is_some(), mtls = tls.is_some_and(|t| t.client_ca.is_some()), "grpc listening");
    builder
        .layer(tower::util::MapResponseLayer::new(precise_status))
        .add_routes(routes.routes())
        // TCP_NODELAY: a response leaves in several writes (headers, data,
        // trailers); without it the client's delayed ACK holds the last
        // ones back about 40 ms (tonic sets it only when it binds itself).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await
        .map_err(|e| format!("grpc server on {local}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(code: &str, message: &str) -> http::Response<()> {
        let mut response = http::Response::new(());
        response
            .headers_mut()
            .insert("grpc-status", code.parse().unwrap_or_else(|_| panic!()));
        response.headers_mut().insert(
            "grpc-message",
            percent_encode(message).parse().unwrap_or_else(|_| panic!()),
        );
        response
    }

    fn status_of(response: &http::Response<()>) -> (String, String) {
        let get = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(percent_decode)
                .unwrap_or_default()
        };
        (get("grpc-status"), get("grpc-message"))
    }

    #[test]
    fn oversized_requests_are_resource_exhausted() {
        let mapped = precise_status(response(
            "11",
            "Error, decoded message length too large: found 10485800 bytes, the limit is: 1048576 bytes",
        ));
        let (code, message) = status_of(&mapped);
        assert_eq!(code, "8");
        assert!(
            message.starts_with("the request is too large: found 10485800 bytes"),
            "{message}"
        );
    }

    #[test]
    fn undecodable_requests_are_invalid_argument_and_others_untouched() {
        let (code, _) = status_of(&precise_status(response(
            "13",
            "failed to decode Protobuf message: invalid varint",
        )));
        assert_eq!(code, "3");
        let (code, message) = status_of(&precise_status(response("13", "database exploded")));
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("13", "database exploded")
        );
    }
}
