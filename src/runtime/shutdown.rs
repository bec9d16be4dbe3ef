//! The process's shutdown signal: SIGINT (Ctrl-C) or SIGTERM.
//!
//! The first one starts a graceful drain; with [`install`], a second one during the drain
//! ends the process at once (exit code 1), for an operator who cannot wait for the grace.

/// Resolves when the process is asked to stop.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("Shutdown signal received");
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that resolves on either.
/// Unlike [`signal`], which installs them when first polled, a signal arriving between this
/// call and the first poll is not lost (nor fatal).
pub fn install() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal as unix_signal, SignalKind};
        let interrupt = unix_signal(SignalKind::interrupt());
        let terminate = unix_signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    tracing::info!("Shutdown signal received");
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = interrupt.recv() => {}
                            _ = terminate.recv() => {}
                        }
                        tracing::warn!("Second shutdown signal received; exiting without draining");
                        crate::runtime::logging::flush();
                        std::process::exit(1);
                    });
                }
                _ => signal().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        signal()
    }
}
