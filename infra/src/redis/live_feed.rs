//! Live updates over Redis pub/sub on `<ns>:live`, so every query-API instance hears what any
//! projector committed. Pub/sub keeps nothing: a subscriber that was away re-reads the API.
//! A process holds one Redis subscription, whatever its number of live clients, and fans it out
//! in memory through a bounded channel: a client that does not read falls behind and skips ahead,
//! and costs Redis nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use watershed_domain::ports::{LiveFeed, LiveStream, LiveUpdate};
use watershed_domain::read_model::DeviceView;
use watershed_domain::{DeviceId, Reading};

use tokio::sync::OnceCell;
use tokio_util::task::AbortOnDropHandle;

use super::{bounded, connect};
use crate::live_feed::BroadcastLiveFeed;

pub struct RedisLiveFeed {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
    /// What this process's live clients subscribe to.
    local: Arc<BroadcastLiveFeed>,
    /// The one subscription to Redis, started by the first live client.
    relay: OnceCell<AbortOnDropHandle<()>>,
}

/// How long the relay waits before subscribing again after Redis went away.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// The message on the channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire {
    Readings {
        device_id: DeviceId,
        stream_seq: u64,
        readings: Vec<Reading>,
    },
    Device {
        view: DeviceView,
    },
}

impl From<LiveUpdate> for Wire {
    fn from(update: LiveUpdate) -> Self {
        match update {
            LiveUpdate::Readings {
                device_id,
                stream_seq,
                readings,
            } => Wire::Readings {
                device_id,
                stream_seq,
                readings,
            },
            LiveUpdate::Device(view) => Wire::Device { view },
        }
    }
}

impl From<Wire> for LiveUpdate {
    fn from(wire: Wire) -> Self {
        match wire {
            Wire::Readings {
                device_id,
                stream_seq,
                readings,
            } => LiveUpdate::Readings {
                device_id,
                stream_seq,
                readings,
            },
            Wire::Device { view } => LiveUpdate::Device(view),
        }
    }
}

impl RedisLiveFeed {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, String> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|e| e.to_string())?,
            conn: connect(url).await?,
            channel: format!("{namespace}:live"),
            local: Arc::default(),
            relay: OnceCell::new(),
        })
    }

    /// One subscription to the channel, or `None` (logged) when Redis cannot be reached.
    async fn subscription(client: &redis::Client, channel: &str) -> Option<redis::aio::PubSub> {
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(e) => {
                tracing::warn!(error = %e, "live feed: cannot reach Redis; retrying");
                return None;
            }
        };
        match pubsub.subscribe(channel).await {
            Ok(()) => Some(pubsub),
            Err(e) => {
                tracing::warn!(error = %e, "live feed: cannot subscribe; retrying");
                None
            }
        }
    }

    /// Hands every message of the channel to the local clients, subscribing again whenever the
    /// connection drops, until the feed is dropped.
    async fn relay(
        mut subscribed: Option<redis::aio::PubSub>,
        client: redis::Client,
        channel: String,
        local: Arc<BroadcastLiveFeed>,
    ) {
        loop {
            if let Some(pubsub) = subscribed.take() {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    if let Ok(wire) = serde_json::from_str::<Wire>(&payload) {
                        local.publish(vec![LiveUpdate::from(wire)]).await;
                    }
                }
                tracing::warn!("live feed: the Redis subscription ended; subscribing again");
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            subscribed = Self::subscription(&client, &channel).await;
        }
    }
}

#[async_trait]
impl LiveFeed for RedisLiveFeed {
    async fn publish(&self, updates: Vec<LiveUpdate>) {
        if updates.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for update in updates {
            let json = serde_json::to_string(&Wire::from(update))
                .expect("live updates serialize: plain data with string keys");
            pipe.cmd("PUBLISH").arg(&self.channel).arg(json).ignore();
        }
        let mut conn = self.conn.clone();
        if let Err(e) = bounded(pipe.query_async::<()>(&mut conn)).await {
            // Live updates are a courtesy: the read models already hold the data.
            tracing::debug!(error = %e, "live updates not published");
        }
    }

    async fn subscribe(&self) -> LiveStream {
        // Subscribed before the first client's stream is handed out, so that it misses nothing
        // published after this returns.
        self.relay
            .get_or_init(|| async {
                let first = Self::subscription(&self.client, &self.channel).await;
                let relay = Self::relay(
                    first,
                    self.client.clone(),
                    self.channel.clone(),
                    Arc::clone(&self.local),
                );
                AbortOnDropHandle::new(tokio::spawn(relay))
            })
            .await;
        self.local.subscribe().await
    }
}
