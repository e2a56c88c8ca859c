//! The notifier: a bus consumer with its own group that turns every alert event into deliveries in
//! the outbox, one per channel that wants it, and only then commits its place on the bus. A crash
//! before the commit reads the events again, and the outbox holds each (message, channel) once, so
//! a notification is neither lost nor minted twice. Sending is the dispatcher's work: a slow
//! receiver never holds this loop, nor detection, nor the projections.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{BusError, EventBus, Notifications};
use watershed_domain::{AlertNotification, DecodeError, DeviceId, NewDelivery, RecordedEvent};

use crate::retry::{retrying, Consumer, Failure, RetryPolicy, Stopped};

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Consumer group name on the bus.
    pub group: String,
    /// Events per bus read.
    pub batch_size: usize,
    pub retry: RetryPolicy,
    /// Alert transitions recorded longer ago than this are not sent: the dispatcher would give
    /// them up anyway (a new group reading old history, a channel added after a long outage).
    pub horizon: Duration,
}

impl NotifierConfig {
    /// The notifier's group beside a projector group.
    pub fn for_projector_group(group: &str, horizon: Duration) -> Self {
        Self {
            group: format!("{group}-notify"),
            batch_size: 500,
            retry: RetryPolicy::default(),
            horizon,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("event {stream_seq} of {stream}: {source}")]
    Undecodable {
        stream: DeviceId,
        stream_seq: u64,
        source: DecodeError,
    },
}

pub struct Notifier {
    pub bus: Arc<dyn EventBus>,
    pub store: Arc<dyn Notifications>,
    pub config: NotifierConfig,
    /// Woken after deliveries are enqueued, so the dispatcher in this process sends them at once.
    pub enqueued: Arc<Notify>,
}

impl Notifier {
    /// Runs until cancelled. A bus or store that is down only delays notifications; an alert event
    /// this version cannot read stops the notifier with the error.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), NotifierError> {
        Failure::outcome(self.notify_all(&shutdown).await)
    }

    async fn notify_all(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<std::convert::Infallible, Failure<NotifierError>> {
        let config = &self.config;
        let mut consumer = Consumer::subscribe(
            &*self.bus,
            &config.group,
            config.batch_size,
            config.retry,
            shutdown,
        )
        .await?;
        loop {
            let notifications = self.notifications(&consumer.next(shutdown).await?)?;
            if !notifications.is_empty() {
                self.enqueue(&notifications, shutdown).await?;
                self.enqueued.notify_one();
            }
            // Enqueueing a batch again adds nothing: the outbox holds each delivery once.
            consumer.commit().await;
        }
    }

    /// The notifications of a batch's alert events, but for those too old to send.
    fn notifications(
        &self,
        events: &[RecordedEvent],
    ) -> Result<Vec<AlertNotification>, Failure<NotifierError>> {
        let oldest = Utc::now()
            - chrono::Duration::from_std(self.config.horizon).unwrap_or(chrono::Duration::MAX);
        let mut notifications = Vec::new();
        for event in events {
            let Some(decoded) = AlertNotification::of(event) else {
                continue;
            };
            let notification = decoded.map_err(|source| {
                Failure::Failed(NotifierError::Undecodable {
                    stream: event.stream_id.clone(),
                    stream_seq: event.stream_seq,
                    source,
                })
            })?;
            if notification.recorded_at < oldest {
                tracing::debug!(message = %notification.message_id, "alert too old to notify");
                continue;
            }
            notifications.push(notification);
        }
        Ok(notifications)
    }

    /// Enqueues a delivery of each notification to every channel that wants it, with the
    /// channels as they are now.
    async fn enqueue(
        &self,
        notifications: &[AlertNotification],
        shutdown: &CancellationToken,
    ) -> Result<(), Stopped> {
        let retry = self.config.retry;
        let channels = retrying(retry, shutdown, "loading webhook channels", || {
            self.store.channels()
        })
        .await?;
        let deliveries: Vec<NewDelivery> = notifications
            .iter()
            .flat_map(|notification| {
                channels
                    .iter()
                    .filter(|channel| channel.wants(notification))
                    .map(|channel| NewDelivery {
                        channel_id: channel.id,
                        notification: notification.clone(),
                    })
            })
            .collect();
        retrying(retry, shutdown, "enqueuing webhook deliveries", || {
            self.store.enqueue(&deliveries)
        })
        .await?;
        metrics::counter!("watershed_webhook_enqueued_total").increment(deliveries.len() as u64);
        Ok(())
    }
}
