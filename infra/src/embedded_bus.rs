//! The embedded bus: subscribers tail the event store itself, in commit order. There is no broker
//! to lose or reorder anything, and the resume position lives in the consumer's own checkpoint.

use std::sync::Arc;

use async_trait::async_trait;
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{BusError, EventBus, EventStore, EventSubscription, StoreError};

pub struct StoreTailBus {
    store: Arc<dyn EventStore>,
}

impl StoreTailBus {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }
}

struct StoreTail {
    store: Arc<dyn EventStore>,
    after: u64,
}

fn bus_error(e: StoreError) -> BusError {
    match e {
        StoreError::Corrupt(m) => BusError::Malformed(m),
        other => BusError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl EventBus for StoreTailBus {
    async fn subscribe(
        &self,
        _group: &str,
        after: u64,
    ) -> Result<Box<dyn EventSubscription>, BusError> {
        Ok(Box::new(StoreTail {
            store: Arc::clone(&self.store),
            after,
        }))
    }
}

#[async_trait]
impl EventSubscription for StoreTail {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, BusError> {
        loop {
            let events = self
                .store
                .read_all(self.after, max)
                .await
                .map_err(bus_error)?;
            if let Some(last) = events.last() {
                self.after = last.position;
                return Ok(events);
            }
            self.store.wait_for_new(self.after).await;
        }
    }

    /// Nothing to do: the consumer resumes from the checkpoint it stores with its own writes.
    async fn commit(&mut self) -> Result<(), BusError> {
        Ok(())
    }
}
