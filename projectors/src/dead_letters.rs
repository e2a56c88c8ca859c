//! The operator's side of dead letters: list them, retry a device's parked events once the cause
//! is fixed, or skip one. A retry reads the parked range from the event store when it has one, so
//! a message that never arrived whole (a malformed Kafka message) is taken from the source of
//! truth; without a store it applies the parked copies.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration as Age, Utc};
use watershed_domain::ports::{
    DeviceCache, EventStore, ReadModel, ReadModelError, StoreError, StreamQuery,
};
use watershed_domain::read_model::{ReadModelDelta, StreamAdvance};
use watershed_domain::{DeadLetter, DeviceId, RecordedEvent};

use crate::projection::project;

pub struct DeadLetterDesk {
    pub read_model: Arc<dyn ReadModel>,
    pub cache: Arc<dyn DeviceCache>,
    /// Where a retry reads the parked range; without it, the parked copies are applied.
    pub store: Option<Arc<dyn EventStore>>,
    /// As the projector's: older raw readings only feed the rollups.
    pub raw_retention: Age,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter {0}")]
    NotFound(i64),
    #[error("dead letter {0} names no device: only skipping it is possible")]
    NoDevice(i64),
    #[error("dead letter {id} is event {seq} of {device}, which is at {applied}: deal with the earlier ones first")]
    NotNext {
        id: i64,
        device: DeviceId,
        seq: u64,
        applied: u64,
    },
    /// The events still cannot be applied; they stay parked.
    #[error("{device} still cannot be applied: {reason}")]
    StillFailing { device: DeviceId, reason: String },
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a retry or skip did to a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    pub device_id: Option<DeviceId>,
    /// Events applied to the read models.
    pub applied: usize,
    /// Dead letters removed.
    pub resolved: usize,
}

impl DeadLetterDesk {
    pub async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        Ok(self.read_model.dead_letters(None).await?)
    }

    /// Applies the parked events of the letter's device again, in order; on success all of the
    /// device's dead letters go and its later events flow again.
    pub async fn retry(&self, id: i64) -> Result<Resolved, DeadLetterError> {
        let letter = self.find(id).await?;
        let device = letter
            .parked
            .device_id
            .ok_or(DeadLetterError::NoDevice(id))?;
        self.retry_device(&device).await
    }

    /// Discards one dead letter. An event is never applied: its stream moves past it, and the
    /// device's later parked events are retried.
    pub async fn skip(&self, id: i64) -> Result<Resolved, DeadLetterError> {
        let letter = self.find(id).await?;
        let mut delta = ReadModelDelta::resolving(vec![id]);
        let (Some(device), Some(seq)) = (&letter.parked.device_id, letter.parked.stream_seq) else {
            self.read_model.commit(&delta).await?;
            return Ok(Resolved {
                device_id: letter.parked.device_id,
                applied: 0,
                resolved: 1,
            });
        };
        let applied = self.applied(device).await?;
        if seq != applied + 1 {
            return Err(DeadLetterError::NotNext {
                id,
                device: device.clone(),
                seq,
                applied,
            });
        }
        delta.streams.insert(
            device.clone(),
            StreamAdvance {
                from: applied,
                to: seq,
            },
        );
        self.read_model.commit(&delta).await?;
        if self.read_model.dead_letters(Some(device)).await?.is_empty() {
            return Ok(Resolved {
                device_id: Some(device.clone()),
                applied: 0,
                resolved: 1,
            });
        }
        let rest = self.retry_device(device).await?;
        Ok(Resolved {
            resolved: rest.resolved + 1,
            ..rest
        })
    }

    async fn find(&self, id: i64) -> Result<DeadLetter, DeadLetterError> {
        self.list()
            .await?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or(DeadLetterError::NotFound(id))
    }

    async fn applied(&self, device: &DeviceId) -> Result<u64, DeadLetterError> {
        let positions = self
            .read_model
            .stream_positions(std::slice::from_ref(device))
            .await?;
        Ok(positions.get(device).copied().unwrap_or(0))
    }

    async fn retry_device(&self, device: &DeviceId) -> Result<Resolved, DeadLetterError> {
        let letters = self.read_model.dead_letters(Some(device)).await?;
        let applied = self.applied(device).await?;
        let events = self.parked_range(device, applied, &letters).await?;
        let still = |reason: String| DeadLetterError::StillFailing {
            device: device.clone(),
            reason,
        };
        let positions = HashMap::from([(device.clone(), applied)]);
        let projected = project(&events, &positions, Utc::now() - self.raw_retention)
            .map_err(|e| still(e.to_string()))?;
        let mut delta = projected.delta;
        delta.resolved = letters.iter().map(|l| l.id).collect();
        match self.read_model.commit(&delta).await {
            Err(ReadModelError::Rejected(reason)) => return Err(still(reason)),
            other => other?,
        }
        if let Ok(views) = self
            .read_model
            .devices_by_id(std::slice::from_ref(device))
            .await
        {
            // The projector refreshes the cache only for what it applies itself.
            if let Err(e) = self.cache.put(&views).await {
                tracing::warn!(error = %e, "device cache not updated after a retry");
            }
        }
        Ok(Resolved {
            device_id: Some(device.clone()),
            applied: events.len(),
            resolved: letters.len(),
        })
    }

    /// The device's events after `applied` up to its last parked one: from the store when there
    /// is one, else the parked copies.
    async fn parked_range(
        &self,
        device: &DeviceId,
        applied: u64,
        letters: &[DeadLetter],
    ) -> Result<Vec<RecordedEvent>, DeadLetterError> {
        let mut parked: Vec<RecordedEvent> = letters
            .iter()
            .filter_map(|l| l.parked.event.clone())
            .filter(|e| e.stream_seq > applied)
            .collect();
        parked.sort_by_key(|e| e.stream_seq);
        parked.dedup_by_key(|e| e.stream_seq);
        let Some(store) = &self.store else {
            return Ok(parked);
        };
        let last = match parked.last() {
            Some(e) => e.stream_seq,
            // Only messages that were no events: whatever the store has after `applied`.
            None => store.stream_version(device).await?,
        };
        if last <= applied {
            return Ok(Vec::new());
        }
        let wanted = (last - applied) as usize;
        Ok(store
            .read_stream(device, StreamQuery::from(applied + 1, wanted))
            .await?)
    }
}
