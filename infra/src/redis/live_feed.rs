//! Live updates over Redis pub/sub on `<ns>:live`, so every query-API instance hears what any
//! projector committed. Pub/sub keeps nothing: a subscriber that was away re-reads the API.

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use watershed_domain::ports::{LiveFeed, LiveStream, LiveUpdate};
use watershed_domain::read_model::DeviceView;
use watershed_domain::{DeviceId, Reading};

use super::{bounded, connect};

pub struct RedisLiveFeed {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
}

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
        })
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
        let mut pubsub = match self.client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "live feed: cannot reach Redis; no live updates");
                return futures::stream::empty().boxed();
            }
        };
        if let Err(e) = pubsub.subscribe(&self.channel).await {
            tracing::warn!(error = %e, "live feed: cannot subscribe; no live updates");
            return futures::stream::empty().boxed();
        }
        pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let payload: String = message.get_payload().ok()?;
                serde_json::from_str::<Wire>(&payload)
                    .ok()
                    .map(LiveUpdate::from)
            })
            .boxed()
    }
}
