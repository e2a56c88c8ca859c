//! The change feed of the `events` container in latest-version mode, which for items that are
//! only ever created is every event, in order within each partition (so within each stream). A
//! cursor is the SDK's continuation token; cursors are kept in the `leases` container, as the
//! change feed processor keeps its own.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use azure_data_cosmos::feed::ContinuationToken;
use azure_data_cosmos::options::{ChangeFeedOptions, ChangeFeedStartFrom};
use azure_data_cosmos::FeedScope;
use futures::StreamExt;
use watershed_domain::event::RecordedEvent;
use watershed_domain::history;
use watershed_domain::ports::{ChangeFeed, EventHistory, FeedCursor, FeedPage, StoreError};
use watershed_domain::{DeviceId, HistoryFilter, HistoryPage};

use super::client::page_size;
use super::event_store::{read_item, CosmosEventStore};
use super::failure::unavailable;
use super::items::{decode, lease_item_id, LeaseItem, StreamItem};

/// How long a waiter sleeps before the caller polls again. Cosmos DB pushes nothing, so readers
/// poll (the change feed processor does too, every 5 s by default); a quarter second keeps the
/// relay's lag low at one cheap read per partition per poll. Appends through this store wake
/// waiters in this process at once.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The change feed has no predicates: every event is read and filtered here.
#[async_trait]
impl EventHistory for CosmosEventStore {
    async fn read_history(
        &self,
        filter: &HistoryFilter,
        after: &FeedCursor,
        max: usize,
    ) -> Result<HistoryPage, StoreError> {
        history::read_through_feed(self, filter, after, max).await
    }
}

#[async_trait]
impl ChangeFeed for CosmosEventStore {
    /// Reads pages until it has `max` events and no append is cut short, or every partition
    /// answered that it has nothing new. The SDK serves the partitions round-robin, one page
    /// each, so as many empty pages in a row as there are partitions mean the end for now. (Right
    /// after a partition split the count may be short; a read then ends early and the next one
    /// finds the rest.)
    async fn read_changes(&self, from: &FeedCursor, max: usize) -> Result<FeedPage, StoreError> {
        let partitions = self
            .events
            .read_feed_ranges(None)
            .await
            .map_err(|e| unavailable("listing partitions", e))?
            .len();
        let mut options = ChangeFeedOptions::default().with_max_item_count(page_size(max));
        if !from.0.is_empty() {
            options =
                options.with_continuation_token(ContinuationToken::from_string(from.0.clone()));
        }
        let mut pages = self
            .events
            .query_change_feed::<serde_json::Value>(
                FeedScope::full_container(),
                ChangeFeedStartFrom::Beginning,
                Some(options),
            )
            .await
            .map_err(|e| {
                if e.status().is_bad_request() {
                    StoreError::BadCursor(format!("not a change-feed continuation: {e}"))
                } else {
                    unavailable("opening the change feed", e)
                }
            })?;

        let mut events = Vec::new();
        // Streams whose last event read so far is not the last of its append.
        let mut cut_short: HashSet<DeviceId> = HashSet::new();
        let mut read_anything = false;
        let mut empty_in_a_row = 0;
        while empty_in_a_row < partitions && (events.len() < max || !cut_short.is_empty()) {
            let page = pages
                .next()
                .await
                .ok_or_else(|| StoreError::Unavailable("the change feed stream ended".to_owned()))?
                .map_err(|e| unavailable("reading the change feed", e))?;
            if page.items().is_empty() {
                empty_in_a_row += 1;
                continue;
            }
            empty_in_a_row = 0;
            read_anything = true;
            for change in page.items() {
                let Some(stored) = change.current() else {
                    continue;
                };
                // Head and idempotency items change with every append; they are not events.
                let StreamItem::Event(item) = decode("a change-feed item", stored)? else {
                    continue;
                };
                let end = item.append_end;
                let event: RecordedEvent = item.into_recorded();
                if event.stream_seq < end {
                    cut_short.insert(event.stream_id.clone());
                } else {
                    cut_short.remove(&event.stream_id);
                }
                events.push(event);
            }
        }
        // Nothing read: the cursor stays as it was, even if the SDK re-encoded it.
        let next = if read_anything {
            let token = pages
                .to_continuation_token()
                .map_err(|e| unavailable("saving the change feed position", e))?;
            FeedCursor(token.as_str().to_owned())
        } else {
            from.clone()
        };
        Ok(FeedPage { events, next })
    }

    async fn wait_for_changes(&self, _from: &FeedCursor) {
        let _ = tokio::time::timeout(POLL_INTERVAL, self.appended.notified()).await;
    }

    async fn load_cursor(&self, reader: &str) -> Result<FeedCursor, StoreError> {
        let id = lease_item_id(reader);
        let lease: Option<LeaseItem> = read_item(&self.leases, &id, &id).await?;
        Ok(lease.map_or_else(FeedCursor::beginning, |l| FeedCursor(l.continuation)))
    }

    async fn save_cursor(&self, reader: &str, cursor: &FeedCursor) -> Result<(), StoreError> {
        let lease = LeaseItem::new(reader, &cursor.0);
        let id = lease_item_id(reader);
        self.leases
            .upsert_item(id.clone(), &id, &lease, None)
            .await
            .map_err(|e| unavailable("saving a feed cursor", e))?;
        Ok(())
    }
}
