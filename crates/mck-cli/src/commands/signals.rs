//! Ctrl-C (SIGINT) and SIGTERM, and the exit codes that report them.

/// Exit code after an interruption: 128 + the signal's number, as shells report it.
const SIGINT_EXIT: u8 = 130;
const SIGTERM_EXIT: u8 = 143;

/// SIGINT (Ctrl-C) and SIGTERM (what CI systems send to cancel a job, before SIGKILL).
pub(super) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn watch() -> std::io::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal; returns the exit code that reports it.
    pub(super) async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => SIGINT_EXIT,
                _ = self.term.recv() => SIGTERM_EXIT,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SIGINT_EXIT
        }
    }
}
