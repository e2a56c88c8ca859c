//! The relay: the first stage of the cloud pipeline. It reads the event store's change feed from
//! its saved cursor, publishes each page to the bus, and saves the cursor only after the bus
//! confirmed every event of the page. A crash therefore publishes at most the unconfirmed tail
//! again, and never skips an event.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{ChangeFeed, EventPublisher, StoreError};

use crate::runner::RetryPolicy;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The relay's cursor name in the change feed.
    pub name: String,
    /// Events per change-feed read and per publish.
    pub page_size: usize,
    pub retry: RetryPolicy,
}

impl RelayConfig {
    /// The cursor name of the one relay a deployment runs.
    pub const DEFAULT_NAME: &'static str = "relay";
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            page_size: 1000,
            retry: RetryPolicy::default(),
        }
    }
}

pub struct Relay {
    pub feed: Arc<dyn ChangeFeed>,
    pub publisher: Arc<dyn EventPublisher>,
    pub config: RelayConfig,
}

/// Stopped by the shutdown token before the step finished.
struct Stopped;

impl Relay {
    /// Runs until cancelled. Every failure is retried with backoff: a store or broker that is down
    /// only delays publication. Stopping in the middle of a page leaves its cursor unsaved, so the
    /// next start publishes that page again.
    pub async fn run(self, shutdown: CancellationToken) {
        let _ = self.relay(&shutdown).await;
    }

    async fn relay(&self, shutdown: &CancellationToken) -> Result<(), Stopped> {
        let name = &self.config.name;
        let mut cursor = self
            .retrying(shutdown, "loading the relay cursor", || {
                self.feed.load_cursor(name)
            })
            .await?;
        loop {
            let page = self
                .retrying(shutdown, "reading the change feed", || {
                    self.feed.read_changes(&cursor, self.config.page_size)
                })
                .await?;
            if page.events.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(Stopped),
                    _ = self.feed.wait_for_changes(&cursor) => continue,
                }
            }
            self.retrying(shutdown, "publishing to the bus", || async {
                self.publisher
                    .publish(&page.events)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .await?;
            tracing::debug!(events = page.events.len(), "relayed");
            self.retrying(shutdown, "saving the relay cursor", || {
                self.feed.save_cursor(name, &page.next)
            })
            .await?;
            cursor = page.next;
        }
    }

    /// Tries `step` until it succeeds or shutdown begins, waiting longer after each failure.
    async fn retrying<T, F, Fut>(
        &self,
        shutdown: &CancellationToken,
        what: &str,
        mut step: F,
    ) -> Result<T, Stopped>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = self.config.retry.first;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return Err(Stopped),
                outcome = step() => outcome,
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "{what} failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(Stopped),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = self.config.retry.next(wait);
                }
            }
        }
    }
}
