//! In-process live updates: a broadcast channel from the projectors to every SSE client.

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use watershed_domain::ports::{LiveFeed, LiveStream, LiveUpdate};

/// Updates a slow subscriber may fall behind by before it skips ahead (and re-reads).
const CAPACITY: usize = 4096;

pub struct BroadcastLiveFeed {
    sender: broadcast::Sender<LiveUpdate>,
}

impl Default for BroadcastLiveFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

#[async_trait]
impl LiveFeed for BroadcastLiveFeed {
    async fn publish(&self, updates: Vec<LiveUpdate>) {
        for update in updates {
            // No subscribers is normal: nobody has the dashboard open.
            let _ = self.sender.send(update);
        }
    }

    async fn subscribe(&self) -> LiveStream {
        BroadcastStream::new(self.sender.subscribe())
            .filter_map(|item| async move { item.ok() })
            .boxed()
    }
}
