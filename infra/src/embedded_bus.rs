//! The embedded bus: consumers read the event store's change feed directly. There is no broker to
//! lose or reorder anything; each consumer group's cursor is kept in the store and saved on commit.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{
    Backlog, BusError, ChangeFeed, EventBus, EventSubscription, FeedCursor, StoreError,
};

pub struct StoreTailBus {
    feed: Arc<dyn ChangeFeed>,
}

impl StoreTailBus {
    pub fn new(feed: Arc<dyn ChangeFeed>) -> Self {
        Self { feed }
    }
}

/// The cursor name of a consumer group, apart from the relay's own.
fn reader_name(group: &str) -> String {
    format!("bus:{group}")
}

fn bus_error(e: StoreError) -> BusError {
    match e {
        StoreError::Corrupt(m) => BusError::Malformed(m),
        other => BusError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl EventBus for StoreTailBus {
    async fn subscribe(&self, group: &str) -> Result<Box<dyn EventSubscription>, BusError> {
        let reader = reader_name(group);
        let committed = self.feed.load_cursor(&reader).await.map_err(bus_error)?;
        Ok(Box::new(StoreTail {
            feed: Arc::clone(&self.feed),
            reader,
            read: committed.clone(),
            page_start: committed.clone(),
            pending: VecDeque::new(),
            committed,
        }))
    }

    async fn backlog(&self, group: &str, cap: usize) -> Result<Backlog, BusError> {
        let committed = self
            .feed
            .load_cursor(&reader_name(group))
            .await
            .map_err(bus_error)?;
        self.feed.backlog(&committed, cap).await.map_err(bus_error)
    }
}

struct StoreTail {
    feed: Arc<dyn ChangeFeed>,
    reader: String,
    /// Where the next read starts.
    read: FeedCursor,
    /// Where the page being handed out started. A feed never splits an append, so a page can hold
    /// more than a batch may; until it is all handed out, this is the cursor safe to save.
    page_start: FeedCursor,
    /// The rest of that page.
    pending: VecDeque<RecordedEvent>,
    /// What was saved last, so an idle commit writes nothing.
    committed: FeedCursor,
}

#[async_trait]
impl EventSubscription for StoreTail {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, BusError> {
        while self.pending.is_empty() {
            let page = self
                .feed
                .read_changes(&self.read, max)
                .await
                .map_err(bus_error)?;
            if page.events.is_empty() {
                self.read = page.next;
                self.feed.wait_for_changes(&self.read).await;
                continue;
            }
            self.page_start = std::mem::replace(&mut self.read, page.next);
            self.pending = page.events.into();
        }
        let take = max.max(1).min(self.pending.len());
        Ok(self.pending.drain(..take).collect())
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        let safe = if self.pending.is_empty() {
            &self.read
        } else {
            &self.page_start
        };
        if *safe != self.committed {
            self.feed
                .save_cursor(&self.reader, safe)
                .await
                .map_err(bus_error)?;
            self.committed = safe.clone();
        }
        Ok(())
    }
}
