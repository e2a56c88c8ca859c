//! The relay: the first stage of the cloud pipeline. It reads the event store's change feed from
//! its saved cursor, publishes each page to the bus, and saves the cursor only after the bus
//! confirmed every event of the page. A crash therefore publishes at most the unconfirmed tail
//! again, and never skips an event.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{ChangeFeed, EventPublisher};

use crate::retry::{retrying, RetryPolicy, Stopped};

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

impl Relay {
    /// Runs until cancelled. Every failure is retried with backoff: a store or broker that is down
    /// only delays publication. Stopping in the middle of a page leaves its cursor unsaved, so the
    /// next start publishes that page again.
    pub async fn run(self, shutdown: CancellationToken) {
        let _ = self.relay(&shutdown).await;
    }

    async fn relay(&self, shutdown: &CancellationToken) -> Result<(), Stopped> {
        let name = &self.config.name;
        let retry = self.config.retry;
        let mut cursor = retrying(retry, shutdown, "loading the relay cursor", || {
            self.feed.load_cursor(name)
        })
        .await?;
        loop {
            let page = retrying(retry, shutdown, "reading the change feed", || {
                self.feed.read_changes(&cursor, self.config.page_size)
            })
            .await?;
            if page.events.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(Stopped),
                    _ = self.feed.wait_for_changes(&cursor) => continue,
                }
            }
            retrying(retry, shutdown, "publishing to the bus", || {
                self.publisher.publish(&page.events)
            })
            .await?;
            tracing::debug!(events = page.events.len(), "relayed");
            metrics::counter!("watershed_relay_published_events_total")
                .increment(page.events.len() as u64);
            retrying(retry, shutdown, "saving the relay cursor", || {
                self.feed.save_cursor(name, &page.next)
            })
            .await?;
            cursor = page.next;
        }
    }
}
