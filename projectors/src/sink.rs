//! Forwarding the bus to a sink outside Watershed (Splunk): its own consumer group, a batch
//! committed only once the sink took all of it, a sink that is down or busy waited out with
//! growing pauses. Being a separate consumer, a slow or dead sink holds back nothing but itself:
//! ingest and the projections run on.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{BusError, EventBus, EventSink, EventSubscription, SinkError};
use watershed_domain::RecordedEvent;

use crate::retry::{next_batch, retrying, NoBatch, RetryPolicy};

/// What happens to an event the sink refuses for its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRefused {
    /// Log it with its id, count it, and go on with the next.
    Skip,
    /// Stop the sink, uncommitted: an operator looks, and a restart sends it again.
    Stop,
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The sink's consumer group on the bus: its checkpoint.
    pub group: String,
    /// Events read from the bus at a time.
    pub batch_size: usize,
    pub retry: RetryPolicy,
    pub on_refused: OnRefused,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkRunError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("{0} (the sink stops: --on-refused stop)")]
    Refused(SinkError),
}

pub struct SinkRunner {
    pub bus: Arc<dyn EventBus>,
    pub sink: Arc<dyn EventSink>,
    /// `sink` label of the metrics, e.g. `splunk`.
    pub name: &'static str,
    pub config: SinkConfig,
}

impl SinkRunner {
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SinkRunError> {
        self.count("delivered", 0);
        self.count("refused", 0);
        let retry = self.config.retry;
        let Ok(mut subscription): Result<Box<dyn EventSubscription>, _> =
            retrying(retry, &shutdown, "subscribing for the sink", || {
                self.bus.subscribe(&self.config.group)
            })
            .await
        else {
            return Ok(());
        };
        loop {
            let events = match next_batch(
                &mut *subscription,
                self.config.batch_size,
                retry,
                &shutdown,
            )
            .await
            {
                Ok(events) => events,
                Err(NoBatch::Stopped) => return Ok(()),
                Err(NoBatch::Malformed(e)) => return Err(e.into()),
            };
            if !self.deliver_all(&events, &shutdown).await? {
                return Ok(());
            }
            // A failed commit means a restart sends this batch again: at least once.
            if let Err(e) = subscription.commit().await {
                tracing::warn!(error = %e, sink = self.name, "bus commit failed; a restart may send again");
            }
        }
    }

    /// Sends every event of the batch, resuming after what the sink took; `false` when shutdown
    /// began first.
    async fn deliver_all(
        &self,
        events: &[RecordedEvent],
        shutdown: &CancellationToken,
    ) -> Result<bool, SinkRunError> {
        let mut rest = events;
        let mut wait = self.config.retry.first;
        while !rest.is_empty() {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                outcome = self.sink.deliver(rest) => outcome,
            };
            match outcome {
                Ok(taken) => {
                    self.count("delivered", taken);
                    rest = &rest[taken.min(rest.len())..];
                    wait = self.config.retry.first;
                    continue;
                }
                Err(SinkError::Refused {
                    first_refused,
                    reason,
                }) if self.config.on_refused == OnRefused::Skip => {
                    let refused = &rest[first_refused.min(rest.len() - 1)];
                    tracing::warn!(sink = self.name, event_id = %refused.meta.event_id,
                        device_id = %refused.stream_id, stream_seq = refused.stream_seq,
                        %reason, "the sink refused an event; skipped (--on-refused skip)");
                    self.count("delivered", first_refused);
                    self.count("refused", 1);
                    rest = &rest[first_refused.min(rest.len() - 1) + 1..];
                    continue;
                }
                Err(e @ SinkError::Refused { .. }) => return Err(SinkRunError::Refused(e)),
                Err(e) => {
                    tracing::warn!(error = %e, sink = self.name, retry_in = ?wait, "sink failed; retrying");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                _ = tokio::time::sleep(wait) => {}
            }
            wait = self.config.retry.next(wait);
        }
        Ok(true)
    }

    fn count(&self, outcome: &'static str, events: usize) {
        metrics::counter!("watershed_sink_events_total", "sink" => self.name, "outcome" => outcome)
            .increment(events as u64);
    }
}
