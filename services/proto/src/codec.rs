//! The gRPC codec of every hub service: prost, but strict. A request that
//! carries fields its schema does not define is refused with
//! `INVALID_ARGUMENT` naming them, instead of being silently shortened (the
//! protobuf default), so a producer can never believe data went through
//! that the hub dropped. AMQP ingress applies the same rule.

use std::marker::PhantomData;

use bytes::Buf;
use prost::{Message, Name};
use prost_reflect::{DynamicMessage, Value};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// prost encoding, strict decoding.
#[derive(Debug, Clone)]
pub struct StrictCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for StrictCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for StrictCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(tonic::codec::BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder { _type: PhantomData }
    }
}

/// Decodes `U`, refusing unknown fields anywhere in it.
#[derive(Debug, Clone)]
pub struct StrictDecoder<U> {
    _type: PhantomData<U>,
}

fn unknown_fields(message: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in message.unknown_fields() {
        out.push(format!("{prefix}#{}", field.number()));
    }
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match value {
            Value::Message(inner) => unknown_fields(inner, &path, out),
            Value::List(items) => {
                for item in items.iter().filter_map(Value::as_message) {
                    unknown_fields(item, &path, out);
                }
            }
            _ => {}
        }
    }
}

impl<U> Decoder for StrictDecoder<U>
where
    U: Message + Name + Default,
{
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let invalid = |e: prost::DecodeError| {
            Status::invalid_argument(format!("the request is not valid protobuf: {e}"))
        };
        let name = U::full_name();
        if let Some(descriptor) = crate::DESCRIPTOR_POOL.get_message_by_name(&name) {
            let dynamic = DynamicMessage::decode(descriptor, bytes.clone()).map_err(invalid)?;
            let mut unknown = Vec::new();
            unknown_fields(&dynamic, "", &mut unknown);
            if !unknown.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "the request has fields that {name} does not define: {}",
                    unknown.join(", ")
                )));
            }
        }
        U::decode(bytes).map(Some).map_err(invalid)
    }
}
