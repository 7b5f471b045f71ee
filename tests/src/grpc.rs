//! gRPC clients for the tests.

use std::net::SocketAddr;

use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_types::StatusExt;

/// A channel to the hub's gRPC address.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

/// A request carrying `token` as a bearer token.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    hub::demo::with_token(message, token).unwrap()
}

/// The fields named by the `BadRequest` details of a status.
#[must_use]
pub fn bad_request_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
