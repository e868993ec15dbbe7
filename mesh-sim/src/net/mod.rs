//! Networking shared by the control plane and the data plane.

pub mod api;
pub mod https;

use std::time::Duration;

/// Pause after a failed `accept`, so that a lasting failure (such as running out of file
/// descriptors) neither spins nor floods the log.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accept failures of one listener: the first one and every hundredth after it are logged.
#[derive(Debug, Default)]
pub struct AcceptFailures {
    count: u64,
}

impl AcceptFailures {
    /// Records a failure of `listener`, logs it when due, and waits [`ACCEPT_BACKOFF`].
    pub async fn record(&mut self, listener: &str, error: &std::io::Error) {
        self.count += 1;
        if self.count == 1 || self.count.is_multiple_of(100) {
            tracing::warn!(%listener, %error, failures = self.count, "accept failed; retrying");
        }
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}
