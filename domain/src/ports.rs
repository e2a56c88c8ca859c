//! The ports: what the application needs from storage, the bus and the cache. Each has one adapter
//! per mode (see ARCHITECTURE.md) and one contract suite in `tests/` that every adapter passes.

use std::collections::HashMap;
use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;

use crate::event::{AppendOutcome, ExpectedVersion, NewEvent, RecordedEvent};
use crate::ids::DeviceId;
use crate::read_model::{DeviceView, ReadModelDelta, Series, SeriesQuery};
use crate::reading::Reading;

/// Failures of the event store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first; reload the stream and decide again.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict {
        stream: DeviceId,
        expected: u64,
        actual: u64,
    },
    /// The store could not be reached or refused for now; nothing was acknowledged.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The store holds something this code cannot read.
    #[error("event store data is corrupt: {0}")]
    Corrupt(String),
}

/// Which events of a stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamQuery {
    /// The first `stream_seq` wanted.
    pub from_seq: u64,
    /// At most this many, oldest first.
    pub limit: usize,
    /// Only these event types, or all. Rebuilding a device's state skips the readings this way.
    pub only_types: Option<&'static [&'static str]>,
}

impl StreamQuery {
    pub fn from(from_seq: u64, limit: usize) -> Self {
        Self {
            from_seq,
            limit,
            only_types: None,
        }
    }
}

/// The source of truth: append-only streams, one per device.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if it is at `expected`, or answers with the event
    /// already stored under the first event's idempotency key. `Ok` means durable.
    async fn append(
        &self,
        stream: &DeviceId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// Events of one stream, oldest first, as `query` selects.
    async fn read_stream(
        &self,
        stream: &DeviceId,
        query: StreamQuery,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's last sequence, 0 when it does not exist.
    async fn stream_version(&self, stream: &DeviceId) -> Result<u64, StoreError>;

    /// Events of all streams with `position > after`, in commit order, at most `limit`. A reader
    /// never sees a later position before an earlier one becomes visible.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The highest committed position (0 when empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// Returns once an event with `position > after` may be visible. It may return early; callers
    /// read again and decide, so a missed wake-up can only delay, never lose, an event.
    async fn wait_for_new(&self, after: u64);
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("malformed message on the bus: {0}")]
    Malformed(String),
}

/// A consumer's view of the bus: events in per-stream order, at least once.
#[async_trait]
pub trait EventSubscription: Send {
    /// Waits for the next events (at most `max`, at least one).
    async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, BusError>;

    /// Tells the bus that everything returned so far is safely applied downstream, so a restart
    /// may resume after it. Consumers stay idempotent: a crash before this redelivers.
    async fn commit(&mut self) -> Result<(), BusError>;
}

/// Where events are published for the projectors.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// A subscription for consumer group `group`, resuming after store position `after` where the
    /// bus has positions (the embedded bus), or at the group's committed offsets (Kafka).
    async fn subscribe(
        &self,
        group: &str,
        after: u64,
    ) -> Result<Box<dyn EventSubscription>, BusError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadModelError {
    /// A stream was not where the delta expected it: the events were applied by someone else.
    #[error("read model moved under us: {0}")]
    Conflict(String),
    #[error("read model unavailable: {0}")]
    Unavailable(String),
}

/// Read models built by projections: device registry, latest values, rollups and raw readings.
#[async_trait]
pub trait ReadModel: Send + Sync + 'static {
    /// The last applied `stream_seq` of each named stream (absent: nothing applied).
    async fn stream_positions(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashMap<DeviceId, u64>, ReadModelError>;

    /// Applies the delta and its stream positions and checkpoint in one transaction, or nothing.
    async fn commit(&self, delta: &ReadModelDelta) -> Result<(), ReadModelError>;

    /// The highest store position applied (0 when none or when the source has no global order).
    async fn checkpoint(&self) -> Result<u64, ReadModelError>;

    /// All devices, sorted by id.
    async fn devices(&self) -> Result<Vec<DeviceView>, ReadModelError>;

    /// The named devices that exist, sorted by id.
    async fn devices_by_id(&self, ids: &[DeviceId]) -> Result<Vec<DeviceView>, ReadModelError>;

    async fn series(&self, query: &SeriesQuery) -> Result<Series, ReadModelError>;

    /// Drops raw readings measured before `cutoff`; rollups keep them. Returns how many went.
    async fn prune_raw(&self, cutoff: DateTime<Utc>) -> Result<u64, ReadModelError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// A write-through cache of device views, in front of the read model.
#[async_trait]
pub trait DeviceCache: Send + Sync + 'static {
    async fn put(&self, views: &[DeviceView]) -> Result<(), CacheError>;

    async fn get(&self, id: &DeviceId) -> Result<Option<DeviceView>, CacheError>;

    /// Every device, sorted by id, or `None` when the cache was never filled completely.
    async fn all(&self) -> Result<Option<Vec<DeviceView>>, CacheError>;

    /// Replaces the whole content and marks it complete.
    async fn replace_all(&self, views: &[DeviceView]) -> Result<(), CacheError>;
}

/// A change the dashboard is told about as soon as it is projected.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    Readings {
        device_id: DeviceId,
        stream_seq: u64,
        readings: Vec<Reading>,
    },
    Device(DeviceView),
}

pub type LiveStream = Pin<Box<dyn Stream<Item = LiveUpdate> + Send>>;

/// Fan-out of live updates from the projectors to every query API instance.
#[async_trait]
pub trait LiveFeed: Send + Sync + 'static {
    async fn publish(&self, updates: Vec<LiveUpdate>);

    /// Updates published after this returns. A slow subscriber may miss some; it then re-reads.
    async fn subscribe(&self) -> LiveStream;
}
