//! Applying one batch of events to a read model, effectively once: read the streams' positions,
//! project what is new on top of them, commit the delta with the new positions in one transaction.
//! The projector does this for every batch from the bus, and a rebuild for every page of history.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration as Age, Utc};
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{EventStore, LiveUpdate, ReadModel, ReadModelError, StreamQuery};
use watershed_domain::read_model::ReadModelDelta;
use watershed_domain::{DeviceId, Parked, PoisonPolicy};

use crate::parking::project_parking;
use crate::projection::{project, Projected};
use crate::runner::{ProjectorConfig, ProjectorError, Touched};

pub struct Applier {
    pub read_model: Arc<dyn ReadModel>,
    /// Where events missing in front of a batch are read from: the read model may be behind the
    /// bus (a rebuilt generation that does not have what was applied to the one before). Without
    /// it, a missing event is a gap, which stops or parks.
    pub store: Option<Arc<dyn EventStore>>,
    pub raw_retention: Age,
    pub poison: PoisonPolicy,
    /// The consumer group the metrics are counted under.
    pub group: String,
}

/// A committed batch: what changed, and what live clients are to be told.
#[derive(Debug, Default)]
pub struct Applied {
    pub touched: Touched,
    pub live: Vec<LiveUpdate>,
}

impl Applier {
    pub fn new(
        read_model: Arc<dyn ReadModel>,
        store: Option<Arc<dyn EventStore>>,
        config: &ProjectorConfig,
    ) -> Self {
        Self {
            read_model,
            store,
            raw_retention: config.raw_retention,
            poison: config.poison,
            group: config.group.clone(),
        }
    }

    /// Projects and commits one batch. Under the `park` policy an event that cannot be applied
    /// becomes a dead letter instead of an error.
    pub async fn apply(&self, events: &[RecordedEvent]) -> Result<Applied, ProjectorError> {
        let mut streams: Vec<DeviceId> = events.iter().map(|e| e.stream_id.clone()).collect();
        streams.sort_unstable();
        streams.dedup();
        let applied: HashMap<DeviceId, u64> = self.read_model.stream_positions(&streams).await?;
        let events = self.fill_gaps(events, &applied).await?;
        let raw_since = Utc::now() - self.raw_retention;
        let parked = match self.poison {
            PoisonPolicy::Stop => {
                return self.commit(project(&*events, &applied, raw_since)?).await
            }
            PoisonPolicy::Park => self.read_model.parked_streams(&streams).await?,
        };
        let projected = project_parking(&events[..], &applied, &parked, raw_since);
        match self.commit(projected).await {
            Err(ProjectorError::ReadModel(ReadModelError::Rejected(reason))) => {
                tracing::warn!(%reason, "the read model refused a batch; finding the event");
                self.apply_one_by_one(&events[..], applied, parked, raw_since)
                    .await
            }
            outcome => outcome,
        }
    }

    /// `events` with, in front, the events of each stream between what the read model applied
    /// and the batch's first, read from the store.
    async fn fill_gaps<'e>(
        &self,
        events: &'e [RecordedEvent],
        applied: &HashMap<DeviceId, u64>,
    ) -> Result<Cow<'e, [RecordedEvent]>, ProjectorError> {
        let Some(store) = &self.store else {
            return Ok(Cow::Borrowed(events));
        };
        let mut seen = HashSet::new();
        let mut missing = Vec::new();
        for event in events {
            if !seen.insert(&event.stream_id) {
                continue;
            }
            let done = applied.get(&event.stream_id).copied().unwrap_or(0);
            if event.stream_seq > done + 1 {
                let count = (event.stream_seq - done - 1) as usize;
                let read = store
                    .read_stream(&event.stream_id, StreamQuery::from(done + 1, count))
                    .await?;
                tracing::info!(
                    device_id = %event.stream_id,
                    from = done + 1,
                    events = read.len(),
                    "read events the read model lacks from the store"
                );
                missing.extend(read);
            }
        }
        if missing.is_empty() {
            return Ok(Cow::Borrowed(events));
        }
        missing.extend_from_slice(events);
        Ok(Cow::Owned(missing))
    }

    async fn commit(&self, projected: Projected) -> Result<Applied, ProjectorError> {
        if projected.delta.is_empty() {
            return Ok(Applied::default());
        }
        self.read_model.commit(&projected.delta).await?;
        self.count(&projected);
        tracing::debug!(
            readings = projected.delta.raw.len(),
            streams = projected.delta.streams.len(),
            parked = projected.delta.parked.len(),
            "projected"
        );
        Ok(Applied {
            touched: Touched {
                devices: projected.touched,
                lifecycle: projected.lifecycle,
            },
            live: projected.live,
        })
    }

    /// What the vector component spec asks of a consumer: what it applied and set aside, and how
    /// old the newest event it applied is (its lag, as a reader of the read models sees it).
    fn count(&self, projected: &Projected) {
        let group = self.group.clone();
        let applied: u64 = projected
            .delta
            .streams
            .values()
            .map(|a| a.to - a.from)
            .sum();
        metrics::counter!("watershed_projector_events_total", "group" => group.clone())
            .increment(applied);
        metrics::counter!("watershed_projector_readings_total", "group" => group.clone())
            .increment(projected.delta.raw.len() as u64);
        if !projected.delta.parked.is_empty() {
            metrics::counter!("watershed_projector_parked_events_total", "group" => group.clone())
                .increment(projected.delta.parked.len() as u64);
        }
        if let Some(newest) = projected.newest_recorded_at {
            let lag = (Utc::now() - newest).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::gauge!("watershed_projector_lag_seconds", "group" => group).set(lag);
        }
    }

    /// The slow path after the read model refused a batch: each event is committed alone, so the
    /// one refused is known and parked with the read model's reason, with its device's later
    /// events behind it. The others land as usual. `parked`: the devices already waiting.
    async fn apply_one_by_one(
        &self,
        events: &[RecordedEvent],
        mut applied: HashMap<DeviceId, u64>,
        mut parked: HashSet<DeviceId>,
        raw_since: DateTime<Utc>,
    ) -> Result<Applied, ProjectorError> {
        let mut all = Applied::default();
        for event in events {
            let device = &event.stream_id;
            let single = std::slice::from_ref(event);
            let projected = project_parking(single, &applied, &parked, raw_since);
            let moved_to = projected.delta.streams.get(device).map(|a| a.to);
            let parks = !projected.delta.parked.is_empty();
            match self.commit(projected).await {
                Ok(done) => {
                    all.touched.devices.extend(done.touched.devices);
                    all.touched.lifecycle.extend(done.touched.lifecycle);
                    all.live.extend(done.live);
                    if let Some(seq) = moved_to {
                        applied.insert(device.clone(), seq);
                    }
                    if parks {
                        parked.insert(device.clone());
                    }
                }
                Err(ProjectorError::ReadModel(ReadModelError::Rejected(reason))) => {
                    let delta = ReadModelDelta::parking(vec![Parked::event(event, reason)]);
                    self.read_model.commit(&delta).await?;
                    parked.insert(device.clone());
                }
                Err(e) => return Err(e),
            }
        }
        all.touched.devices.sort_unstable();
        all.touched.devices.dedup();
        Ok(all)
    }
}
