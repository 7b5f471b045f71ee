//! Graceful shutdown: one token, cancelled on SIGTERM or SIGINT (or by a
//! test). Consumers stop fetching when it fires, finish and ack what they
//! hold, and give up after the grace period.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// Cancels `shutdown` on the first SIGTERM or SIGINT. A second signal ends
/// the process at once.
pub fn cancel_on_signals(shutdown: Shutdown) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        shutdown.cancel();
        wait_for_signal().await;
        tracing::warn!("second shutdown signal, exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
