//! The policy catalog as code, and everything that follows from it without
//! I/O: loading and validating `policy/catalog.toml` against the proto
//! descriptors, minimising a message for a route (default deny), decoding
//! and validating payloads, and computing keyed pseudonyms of data subjects.
//!
//! The router is the only enforcement point; it calls into this crate and
//! nothing here talks to a broker or a database.

#![forbid(unsafe_code)]

pub mod bsn;
pub mod catalog;
mod check;
pub mod diff;
pub mod duration;
pub mod fieldpath;
pub mod mask;
mod model;
pub mod payload;
pub mod pseudonym;
pub mod register;
pub mod samples;
pub mod wire;

pub use catalog::{Catalog, CatalogError, Encoding, MessageType, Route};
pub use mask::{Mask, Minimised};
pub use payload::{ContentType, FieldViolation, PayloadError};
pub use pseudonym::PseudonymKey;
