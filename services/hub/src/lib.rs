//! The `hub` binary's library: how the services are composed into one
//! process (`hub all`), provisioning, and the demo. The end-to-end tests
//! start the hub through this crate, the same way the binary does.

#![forbid(unsafe_code)]

pub mod compose;
pub mod demo;
pub mod report;
pub mod tap;

pub use compose::{Component, HubConfig, Running, start};
