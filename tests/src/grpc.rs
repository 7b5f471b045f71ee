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

/// A codec that sends and receives bytes as they are, to put hostile
/// requests on the wire.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

/// Encoder and decoder of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Raw;

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

/// Calls a unary method (`/pkg.Service/Method`) with `body` as the request
/// bytes and `token` as bearer token.
pub async fn raw_unary(
    addr: SocketAddr,
    path: &'static str,
    token: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    let mut grpc =
        tonic::client::Grpc::new(channel(addr).await).max_encoding_message_size(64 * 1024 * 1024);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let request = with_token(body, token);
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}
