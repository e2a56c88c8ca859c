//! The relay: the first stage of the cloud pipeline. It reads the event store's change feed from
//! its saved cursor, publishes each page to the bus, and saves the cursor only after the bus
//! confirmed every event of the page. A crash therefore publishes at most the unconfirmed tail
//! again, and never skips an event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{ChangeFeed, EventPublisher, FeedCursor};

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
        // Registered at zero, so a rate over them means something from the first scrape.
        metrics::counter!("watershed_relay_published_events_total").increment(0);
        let mut backlog_counted = Instant::now() - BACKLOG_EVERY;
        loop {
            let page = retrying(retry, shutdown, "reading the change feed", || {
                self.feed.read_changes(&cursor, self.config.page_size)
            })
            .await?;
            if page.events.is_empty() {
                metrics::gauge!("watershed_relay_backlog_events").set(0.0);
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
            if backlog_counted.elapsed() >= BACKLOG_EVERY {
                backlog_counted = Instant::now();
                self.count_backlog(&cursor).await;
            }
        }
    }

    /// Sets the backlog gauge: events after `cursor`, counted up to a cap (Cosmos DB counts by
    /// reading). A failed count leaves the last value; the next page tries again.
    async fn count_backlog(&self, cursor: &FeedCursor) {
        match self.feed.backlog(cursor, BACKLOG_CAP).await {
            Ok(backlog) => {
                metrics::gauge!("watershed_relay_backlog_events").set(backlog.events as f64);
            }
            Err(e) => tracing::debug!(error = %e, "counting the relay backlog failed"),
        }
    }
}

/// How often a relay that is busy counts what it has left; one that is caught up knows it is 0.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// Events counted at most for the backlog gauge.
const BACKLOG_CAP: usize = 100_000;
