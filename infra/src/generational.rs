//! The read model a process uses: whichever generation the record names current. It reads the
//! record again every second and moves to a new generation on its own, so a rebuild switches every
//! process without a restart. A commit prepared against the old generation then fails its stream
//! positions check there as a conflict, and the projector retries it against the new one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use watershed_domain::ports::{ReadModel, ReadModelError, ReadModelGenerations};
use watershed_domain::read_model::{
    AlertQuery, AlertRecord, DeviceView, ReadModelDelta, Series, SeriesQuery,
};
use watershed_domain::{DeadLetter, DeviceId};

/// How often each process looks for a switch: the longest a process answers from the old
/// generation after a rebuild switched.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub struct GenerationalReadModel {
    generations: Arc<dyn ReadModelGenerations>,
    current: RwLock<(u32, Arc<dyn ReadModel>)>,
}

impl GenerationalReadModel {
    /// Opens the current generation and follows the record from then on, until dropped.
    pub async fn open(
        generations: Arc<dyn ReadModelGenerations>,
    ) -> Result<Arc<Self>, ReadModelError> {
        let record = generations.load().await?;
        let model = generations.open(record.current).await?;
        let this = Arc::new(Self {
            generations,
            current: RwLock::new((record.current, model)),
        });
        tokio::spawn(follow(Arc::downgrade(&this)));
        Ok(this)
    }

    /// The generation this process reads and writes now.
    fn generation(&self) -> u32 {
        self.current.read().expect("generation lock poisoned").0
    }

    fn model(&self) -> Arc<dyn ReadModel> {
        Arc::clone(&self.current.read().expect("generation lock poisoned").1)
    }

    /// Moves to the generation the record names, if it is another one.
    async fn catch_up(&self) -> Result<(), ReadModelError> {
        let record = self.generations.load().await?;
        if record.current == self.generation() {
            return Ok(());
        }
        let model = self.generations.open(record.current).await?;
        let previous = std::mem::replace(
            &mut *self.current.write().expect("generation lock poisoned"),
            (record.current, model),
        );
        tracing::info!(
            from = previous.0,
            to = record.current,
            "read models switched generation"
        );
        Ok(())
    }
}

async fn follow(this: Weak<GenerationalReadModel>) {
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let Some(this) = this.upgrade() else { return };
        if let Err(e) = this.catch_up().await {
            tracing::warn!(error = %e, "the read-model generations record is unreadable; staying");
        }
    }
}

#[async_trait]
impl ReadModel for GenerationalReadModel {
    async fn stream_positions(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashMap<DeviceId, u64>, ReadModelError> {
        self.model().stream_positions(streams).await
    }

    async fn commit(&self, delta: &ReadModelDelta) -> Result<(), ReadModelError> {
        self.model().commit(delta).await
    }

    async fn parked_streams(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashSet<DeviceId>, ReadModelError> {
        self.model().parked_streams(streams).await
    }

    async fn dead_letters(
        &self,
        device: Option<&DeviceId>,
    ) -> Result<Vec<DeadLetter>, ReadModelError> {
        self.model().dead_letters(device).await
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        self.model().ping().await
    }

    async fn devices(&self) -> Result<Vec<DeviceView>, ReadModelError> {
        self.model().devices().await
    }

    async fn device_count(&self) -> Result<u64, ReadModelError> {
        self.model().device_count().await
    }

    async fn devices_by_id(&self, ids: &[DeviceId]) -> Result<Vec<DeviceView>, ReadModelError> {
        self.model().devices_by_id(ids).await
    }

    async fn series(&self, query: &SeriesQuery) -> Result<Series, ReadModelError> {
        self.model().series(query).await
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>, ReadModelError> {
        self.model().alerts(query).await
    }

    async fn prune_raw(&self, cutoff: DateTime<Utc>) -> Result<u64, ReadModelError> {
        self.model().prune_raw(cutoff).await
    }
}
