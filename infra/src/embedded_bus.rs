//! The embedded bus: consumers read the event store's change feed directly. There is no broker to
//! lose or reorder anything; each consumer group's cursor is kept in the store and saved on commit.

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
    /// What was saved last, so an idle commit writes nothing.
    committed: FeedCursor,
}

#[async_trait]
impl EventSubscription for StoreTail {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, BusError> {
        loop {
            let page = self
                .feed
                .read_changes(&self.read, max)
                .await
                .map_err(bus_error)?;
            self.read = page.next;
            if !page.events.is_empty() {
                return Ok(page.events);
            }
            self.feed.wait_for_changes(&self.read).await;
        }
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        if self.read != self.committed {
            self.feed
                .save_cursor(&self.reader, &self.read)
                .await
                .map_err(bus_error)?;
            self.committed = self.read.clone();
        }
        Ok(())
    }
}
