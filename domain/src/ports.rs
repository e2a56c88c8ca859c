//! The ports: what the application needs from storage, the bus and the cache. Each has one adapter
//! per mode (see ARCHITECTURE.md) and one contract suite in `tests/` that every adapter passes.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;

use crate::dead_letter::{DeadLetter, Parked};
use crate::event::{AppendOutcome, Committed, ExpectedVersion, NewEvent, RecordedEvent};
use crate::generations::Generations;
use crate::history::{HistoryFilter, HistoryPage};
use crate::idempotency::{IdempotencyKey, Recalled};
use crate::ids::DeviceId;
use crate::limits::{Decision, Limits};
use crate::read_model::{AlertQuery, AlertRecord, DeviceView, ReadModelDelta, Series, SeriesQuery};
use crate::reading::Reading;
use crate::webhooks::{
    AfterAttempt, Attempt, DeliveryRecord, DueDelivery, NewDelivery, WebhookChannel, WebhookUrl,
};

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
    /// A cursor that this store did not issue: the caller's mistake, not the store's.
    #[error("not a cursor of this event store: {0}")]
    BadCursor(String),
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

    /// The event stored under `key` in `stream`, if any: what a resend is answered with even when
    /// the command would now be refused (a batch retried after its device was decommissioned).
    async fn recall(
        &self,
        stream: &DeviceId,
        key: &IdempotencyKey,
    ) -> Result<Option<Recalled>, StoreError>;

    /// Appends across streams in one transaction, where the store can: SQLite can; Cosmos DB
    /// cannot, since its transactions stay within a partition and each stream is one.
    fn multi_stream(&self) -> Option<&dyn MultiStreamAppend> {
        None
    }
}

/// One stream's part of a multi-stream append.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream: DeviceId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// Appends to several streams as one: a bulk import is all or nothing.
#[async_trait]
pub trait MultiStreamAppend: Send + Sync {
    /// Appends every part, in order, or none: a part whose stream is not at its expected version,
    /// or whose idempotency key is already stored, fails the whole with `Conflict` naming that
    /// stream, and any other failure leaves nothing written either. `Ok` means durable; the
    /// answer holds each part's events where they landed.
    async fn append_streams(
        &self,
        parts: Vec<StreamAppend>,
    ) -> Result<Vec<Vec<Committed>>, StoreError>;
}

/// Where a change-feed reader stands. Opaque: only the store that issued it can read it (a position
/// for SQLite, a continuation token for Cosmos DB). The empty cursor is the beginning of history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FeedCursor(pub String);

impl FeedCursor {
    pub fn beginning() -> Self {
        Self::default()
    }
}

/// One read of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// Every event of a stream after the previous page's, in stream order. Streams interleave.
    pub events: Vec<RecordedEvent>,
    /// Where the next read starts; equal to the old cursor when nothing was new.
    pub next: FeedCursor,
}

/// What a change-feed reader has not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Events waiting, counted up to the cap the caller gave.
    pub events: u64,
    /// More than `events` may be waiting.
    pub capped: bool,
    /// When the oldest waiting event was recorded.
    pub oldest_recorded_at: Option<DateTime<Utc>>,
}

/// The event store's change feed: every committed event, at least once, in per-stream order, with
/// named cursors kept in the store so that a reader resumes where it last confirmed.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Events committed after `from`, about `max` of them (an append is never split, so a page may
    /// run over), and the cursor after them.
    async fn read_changes(&self, from: &FeedCursor, max: usize) -> Result<FeedPage, StoreError>;

    /// Returns once events after `from` may be readable, or after a short while. Callers read again
    /// and decide, so a missed wake-up only delays.
    async fn wait_for_changes(&self, from: &FeedCursor);

    /// The cursor `reader` saved last, or the beginning.
    async fn load_cursor(&self, reader: &str) -> Result<FeedCursor, StoreError>;

    /// Saves where `reader` stands. Save only what is safely handled downstream.
    async fn save_cursor(&self, reader: &str, cursor: &FeedCursor) -> Result<(), StoreError>;

    /// What a reader at `from` has not read, counting at most `cap` events.
    async fn backlog(&self, from: &FeedCursor, cap: usize) -> Result<Backlog, StoreError> {
        let page = self.read_changes(from, cap).await?;
        Ok(Backlog {
            events: page.events.len().min(cap) as u64,
            capped: page.events.len() >= cap,
            oldest_recorded_at: page.events.iter().map(|e| e.meta.recorded_at).min(),
        })
    }
}

/// The whole history, oldest first, for analysts: replay, export, sinks.
#[async_trait]
pub trait EventHistory: Send + Sync + 'static {
    /// About `max` events after `after` (the cursor of a [`HistoryPage`] or the beginning) that
    /// `filter` selects. A page may hold none of them and still not be the end.
    async fn read_history(
        &self,
        filter: &HistoryFilter,
        after: &FeedCursor,
        max: usize,
    ) -> Result<HistoryPage, StoreError>;
}

/// Why a sink did not take a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Down, busy or unreachable: the batch may be sent again as it is.
    #[error("sink unavailable: {0}")]
    Unavailable(String),
    /// The receiver refuses this content: sending it again cannot help. The events before
    /// `first_refused` were taken; the rest of the batch was not.
    #[error("sink refused event {first_refused} of the batch: {reason}")]
    Refused {
        first_refused: usize,
        reason: String,
    },
    /// The receiver refuses the sender (a wrong token): nothing will be taken until an operator
    /// fixes the configuration.
    #[error("sink refused the credentials: {0}")]
    Unauthorized(String),
}

/// Somewhere outside Watershed that events are forwarded to (Splunk): a bus consumer with its own
/// group hands it batches in per-device order and commits only what it took.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Sends a prefix of `events` (at least one; as many as one request carries) and answers
    /// how many were taken. The caller sends the rest next.
    async fn deliver(&self, events: &[RecordedEvent]) -> Result<usize, SinkError>;
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

    /// After `next_batch` reported a malformed message: that message, described as a dead
    /// letter, and the subscription moves past it, so the next batch goes on after it and the
    /// next commit covers it. Only a caller that keeps the message (parks it) takes it. `None`
    /// where the bus holds no message it could pass.
    fn take_poison(&mut self) -> Option<Parked> {
        None
    }
}

/// Where events are published for the projectors.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// A subscription for consumer group `group`, resuming after what the group last committed.
    async fn subscribe(&self, group: &str) -> Result<Box<dyn EventSubscription>, BusError>;

    /// Events published but not yet committed by `group` (counted up to `cap`). Counts what the
    /// bus itself holds; a relay in front of it reports its own backlog.
    async fn backlog(&self, group: &str, cap: usize) -> Result<Backlog, BusError>;
}

/// The producing side of the bus: what the relay publishes the change feed to.
#[async_trait]
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes `events`, keeping each stream's order. `Ok` means the bus holds every one durably;
    /// on `Err` some may be published anyway, so the caller publishes them all again (consumers
    /// skip what they already applied).
    async fn publish(&self, events: &[RecordedEvent]) -> Result<(), BusError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadModelError {
    /// A stream was not where the delta expected it: the events were applied by someone else.
    #[error("read model moved under us: {0}")]
    Conflict(String),
    #[error("read model unavailable: {0}")]
    Unavailable(String),
    /// The read model refuses the data itself (a value out of its range, a broken constraint):
    /// trying the same change again cannot help.
    #[error("read model refused the change: {0}")]
    Rejected(String),
}

/// Read models built by projections: device registry, latest values, rollups and raw readings.
#[async_trait]
pub trait ReadModel: Send + Sync + 'static {
    /// The last applied `stream_seq` of each named stream (absent: nothing applied).
    async fn stream_positions(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashMap<DeviceId, u64>, ReadModelError>;

    /// Applies the delta and its stream positions in one transaction, or nothing.
    async fn commit(&self, delta: &ReadModelDelta) -> Result<(), ReadModelError>;

    /// Which of `streams` have dead letters: their events wait behind them.
    async fn parked_streams(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashSet<DeviceId>, ReadModelError>;

    /// Dead letters, of one device or all, oldest first per device.
    async fn dead_letters(
        &self,
        device: Option<&DeviceId>,
    ) -> Result<Vec<DeadLetter>, ReadModelError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), ReadModelError>;

    /// All devices, sorted by id.
    async fn devices(&self) -> Result<Vec<DeviceView>, ReadModelError>;

    /// How many devices there are, without reading them.
    async fn device_count(&self) -> Result<u64, ReadModelError>;

    /// The named devices that exist, sorted by id.
    async fn devices_by_id(&self, ids: &[DeviceId]) -> Result<Vec<DeviceView>, ReadModelError>;

    async fn series(&self, query: &SeriesQuery) -> Result<Series, ReadModelError>;

    /// Alerts, active and cleared, as `query` selects them, newest raised first.
    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>, ReadModelError>;

    /// Drops raw readings measured before `cutoff`; rollups keep them. Returns how many went.
    async fn prune_raw(&self, cutoff: DateTime<Utc>) -> Result<u64, ReadModelError>;
}

/// The generations of the read models (see `generations`): the record every process follows,
/// and the storage each generation lives in.
#[async_trait]
pub trait ReadModelGenerations: Send + Sync + 'static {
    /// The record; before any rebuild, generation 1 and nothing else.
    async fn load(&self) -> Result<Generations, ReadModelError>;

    /// Replaces the record if it still is `expected`; `false` when someone else changed it.
    async fn replace(
        &self,
        expected: &Generations,
        new: &Generations,
    ) -> Result<bool, ReadModelError>;

    /// Every generation that has storage, current or not, oldest first.
    async fn existing(&self) -> Result<Vec<u32>, ReadModelError>;

    /// The read model of `generation`, created empty (with its schema) if it does not exist.
    async fn open(&self, generation: u32) -> Result<Arc<dyn ReadModel>, ReadModelError>;

    /// Deletes `generation`'s storage and everything in it.
    async fn remove(&self, generation: u32) -> Result<(), ReadModelError>;
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

    /// How many devices, without reading them, or `None` when the cache was never filled whole.
    async fn count(&self) -> Result<Option<u64>, CacheError>;
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

/// Failures of the notification store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("notification store unavailable: {0}")]
    Unavailable(String),
    #[error("notification store data is corrupt: {0}")]
    Corrupt(String),
}

/// Webhook channels and the durable outbox of their deliveries. Lives beside the read models
/// (a SQLite file of its own, a PostgreSQL schema of its own) but is no read model: a rebuild
/// leaves it alone, and nothing in it can be derived again.
#[async_trait]
pub trait Notifications: Send + Sync + 'static {
    /// Every channel, oldest first.
    async fn channels(&self) -> Result<Vec<WebhookChannel>, NotifyError>;

    /// Creates the channel or replaces the one with its id.
    async fn save_channel(&self, channel: &WebhookChannel) -> Result<(), NotifyError>;

    /// Removes a channel; its pending deliveries fail with that reason. False when there was none.
    async fn delete_channel(&self, id: uuid::Uuid) -> Result<bool, NotifyError>;

    /// Adds deliveries, due at once; one already held (same message, same channel) is left as it
    /// is, so a notifier that sees an alert again never mints a second delivery of it.
    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<(), NotifyError>;

    /// Pending deliveries due by `now` of enabled channels not in `busy`, oldest first, at most
    /// `per_channel` of each channel and `limit` in all, leased to the caller until
    /// `lease_until`: no other dispatcher takes them meanwhile, and if the caller dies they are
    /// due again once the lease runs out.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_channel: usize,
        busy: &[uuid::Uuid],
    ) -> Result<Vec<DueDelivery>, NotifyError>;

    /// Records an attempt at a claimed delivery and where that leaves it. Ends the lease.
    async fn record_attempt(
        &self,
        delivery: i64,
        attempt: &Attempt,
        after: &AfterAttempt,
    ) -> Result<(), NotifyError>;

    /// Every delivery of one alert (its raise and its clear, to every channel), with attempts.
    async fn deliveries_of_alert(
        &self,
        alert_id: uuid::Uuid,
    ) -> Result<Vec<DeliveryRecord>, NotifyError>;
}

/// Posts webhook deliveries over HTTP.
#[async_trait]
pub trait WebhookTransport: Send + Sync + 'static {
    /// Posts `body` (JSON) with `headers` and answers with the receiver's status, or why there was
    /// none (refused, timed out). Never waits longer than the adapter's timeout.
    async fn post(
        &self,
        url: &WebhookUrl,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String>;
}

/// A usage counter could not be asked or updated.
#[derive(Debug, thiserror::Error)]
#[error("usage counter unavailable: {0}")]
pub struct UsageUnavailable(pub String);

/// Where devices' usage against their limits is counted: shared by every instance that takes
/// readings, and kept across restarts. Each call decides and counts in one step.
#[async_trait]
pub trait UsageCounter: Send + Sync + 'static {
    /// Takes `n` readings of `device` under `limits` at `now` (see `limits::take`).
    async fn take(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Decision, UsageUnavailable>;

    /// Gives back `n` readings taken but not stored (see `limits::refund`).
    async fn refund(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<(), UsageUnavailable>;
}
