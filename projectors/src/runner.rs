//! The projector runner: takes batches from a bus subscription, projects them, commits the delta
//! with its positions in one read-model transaction, then refreshes the cache and tells live
//! clients. Delivery is at least once; the positions make it effectively once.

use std::sync::Arc;

use chrono::Duration as Age;
use tokio_util::sync::CancellationToken;
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{
    BusError, DeviceCache, EventBus, EventStore, EventSubscription, LiveFeed, LiveUpdate,
    ReadModel, ReadModelError, StoreError,
};
use watershed_domain::read_model::ReadModelDelta;
use watershed_domain::{DeviceId, PoisonPolicy};

use crate::apply::Applier;
use crate::projection::ProjectionError;
use crate::retry::{next_batch, retrying, NoBatch, RetryPolicy};

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Consumer group name on the bus.
    pub group: String,
    /// Events per read-model transaction.
    pub batch_size: usize,
    /// How long raw readings are kept; older ones only feed the rollups.
    pub raw_retention: Age,
    pub retry: RetryPolicy,
    /// What an event that cannot be applied does: stop the projector, or park as a dead letter.
    pub poison: PoisonPolicy,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            group: "read-models".to_owned(),
            batch_size: 500,
            raw_retention: Age::hours(48),
            retry: RetryPolicy::default(),
            poison: PoisonPolicy::Stop,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProjectorError {
    /// Whether waiting and trying the same batch again can help.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Bus(BusError::Unavailable(_))
                | Self::ReadModel(ReadModelError::Unavailable(_) | ReadModelError::Conflict(_))
                | Self::Store(StoreError::Unavailable(_))
        )
    }
}

pub struct Projector {
    pub bus: Arc<dyn EventBus>,
    pub read_model: Arc<dyn ReadModel>,
    pub cache: Arc<dyn DeviceCache>,
    pub live: Arc<dyn LiveFeed>,
    /// The event store, to read events the read model lacks (see [`Applier::store`]).
    pub store: Option<Arc<dyn EventStore>>,
    pub config: ProjectorConfig,
}

impl Projector {
    /// Opens the group's subscription, resuming after what it last committed.
    pub async fn subscribe(&self) -> Result<Box<dyn EventSubscription>, ProjectorError> {
        Ok(self.bus.subscribe(&self.config.group).await?)
    }

    /// Runs until cancelled. Transient failures are retried with backoff on the same batch, so a
    /// read model that is down delays projection but never drops an event; a permanent failure
    /// (a gap, an undecodable event, a change the read model refuses) stops the runner with the
    /// error, before anything after it is committed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        // Registered at zero, so the alert rules' rates mean something from the first scrape.
        for name in [
            "watershed_projector_errors_total",
            "watershed_projector_parked_events_total",
        ] {
            metrics::counter!(name, "group" => self.config.group.clone()).increment(0);
        }
        let mut subscription = self.subscribe().await?;
        let mut cache_stale = true;
        loop {
            let events = match next_batch(
                &mut *subscription,
                self.config.batch_size,
                self.config.retry,
                &shutdown,
            )
            .await
            {
                Ok(events) => events,
                Err(NoBatch::Stopped) => return Ok(()),
                Err(NoBatch::Malformed(e)) => {
                    let Some(delta) = self.poison_to_park(&mut *subscription) else {
                        return Err(e.into());
                    };
                    // Kept before the bus offset moves past it, which the next batch's commit does.
                    let parked =
                        retrying(self.config.retry, &shutdown, "parking a message", || {
                            self.read_model.commit(&delta)
                        });
                    if parked.await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
            };
            let mut wait = self.config.retry.first;
            let touched = loop {
                match self.apply(&events).await {
                    Ok(touched) => break touched,
                    Err(e) if e.is_transient() => {
                        tracing::warn!(error = %e, retry_in = ?wait, "projection batch failed; retrying");
                        metrics::counter!("watershed_projector_errors_total", "group" => self.config.group.clone())
                            .increment(1);
                        tokio::select! {
                            _ = shutdown.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = self.config.retry.next(wait);
                    }
                    Err(e) => return Err(e),
                }
            };
            // A failed commit only means a restart redelivers this batch, which the stream
            // positions then skip; the next commit covers it.
            if let Err(e) = subscription.commit().await {
                tracing::warn!(error = %e, "bus commit failed; a restart may redeliver");
            }
            cache_stale = self.refresh_cache(&touched, cache_stale).await;
        }
    }

    /// Projects and commits one batch; returns the devices whose views changed, and publishes
    /// live updates. Tests call this directly instead of running the loop. Under the `park`
    /// policy an event that cannot be applied becomes a dead letter instead of an error.
    pub async fn apply(&self, events: &[RecordedEvent]) -> Result<Touched, ProjectorError> {
        let applier = Applier::new(
            Arc::clone(&self.read_model),
            self.store.clone(),
            &self.config,
        );
        let applied = applier.apply(events).await?;
        if !applied.live.is_empty() {
            self.live.publish(applied.live).await;
        }
        Ok(applied.touched)
    }

    /// Under the `park` policy, the bus's malformed message as a dead letter to commit, with the
    /// subscription moved past it; `None` means stop.
    fn poison_to_park(&self, subscription: &mut dyn EventSubscription) -> Option<ReadModelDelta> {
        if self.config.poison != PoisonPolicy::Park {
            return None;
        }
        let letter = subscription.take_poison()?;
        tracing::warn!(source = %letter.source, error = %letter.error, "parking a malformed message");
        Some(ReadModelDelta::parking(vec![letter]))
    }

    /// Writes the changed views through to the cache and announces lifecycle changes. When the
    /// cache failed before, it is refilled whole, since it missed updates meanwhile. Returns
    /// whether the cache is still stale.
    async fn refresh_cache(&self, touched: &Touched, stale: bool) -> bool {
        let views = if stale {
            self.read_model.devices().await
        } else if touched.devices.is_empty() {
            return false;
        } else {
            self.read_model.devices_by_id(&touched.devices).await
        };
        let views = match views {
            Ok(views) => views,
            Err(e) => {
                tracing::warn!(error = %e, "device views not readable; the cache will be refilled");
                return true;
            }
        };
        let lifecycle = views
            .iter()
            .filter(|v| touched.lifecycle.contains(&v.device_id))
            .cloned()
            .map(LiveUpdate::Device)
            .collect::<Vec<_>>();
        if !lifecycle.is_empty() {
            self.live.publish(lifecycle).await;
        }
        let written = if stale {
            self.cache.replace_all(&views).await
        } else {
            self.cache.put(&views).await
        };
        match written {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(error = %e, "device cache not updated; it will be refilled");
                true
            }
        }
    }
}
/// Devices a committed batch changed.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    pub devices: Vec<DeviceId>,
    pub lifecycle: Vec<DeviceId>,
}
