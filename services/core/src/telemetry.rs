//! Logging with `tracing`: human-readable or JSON lines on stderr (stdout
//! is left to command output such as the demo's report).
//!
//! Log messages are lowercase, without trailing punctuation, with values as
//! fields. They carry ids and pseudonyms only; payload values never reach a
//! log line (the proto types' `Debug` is redacting, and error texts about
//! payloads are sanitised where they are made).

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryConfig};

/// Installs the global subscriber. Fails when the filter does not parse.
pub fn init(config: &TelemetryConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| format!("log filter `{}`: {e}", config.filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A subscriber may already be installed (tests running services in-process).
    let _ = result;
    Ok(())
}
