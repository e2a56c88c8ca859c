//! The embedded event store: SQLite in WAL mode. Appends go through the group-commit writer;
//! reads use a pool of read-only connections that never wait for it. Its change feed is the
//! global commit order: a cursor is a position.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};
use watershed_domain::event::{
    AppendOutcome, Committed, EventMeta, ExpectedVersion, NewEvent, RecordedEvent,
};
use watershed_domain::ports::{
    Backlog, ChangeFeed, EventHistory, EventStore, FeedCursor, FeedPage, MultiStreamAppend,
    StoreError, StreamAppend, StreamQuery,
};
use watershed_domain::{DeviceId, HistoryFilter, HistoryPage, IdempotencyKey, Recalled};

use super::group_commit::{self, AppendRequest, GroupCommitter, MultiStreamRequest, WriteRequest};
use super::time::{from_micros, to_micros};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_events");

/// How many appends may wait for the writer before callers feel back-pressure.
const QUEUE_DEPTH: usize = 4096;

const COLUMNS: &str = "position, event_id, stream_id, stream_seq, event_type, schema_version, \
     occurred_at_us, recorded_at_us, correlation_id, causation_id, payload";

pub struct SqliteEventStore {
    readers: SqlitePool,
    /// For feed cursors only; events are written by the group committer alone.
    cursors: SqlitePool,
    writes: mpsc::Sender<WriteRequest>,
    head: watch::Receiver<u64>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteEventStore {
    /// How much of the file a reader maps (`PRAGMA mmap_size`); beyond it, pages are read as
    /// usual.
    pub const READER_MMAP_BYTES: &'static str = "1073741824";

    /// Opens (creating if needed) the store file, applies migrations and starts the writer.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = super::connect_options(path);
        let mut writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&mut writer).await.map_err(unavailable)?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut writer)
            .await
            .map_err(unavailable)?;
        // Cursor saves do not wait for an fsync: one that power loss undoes only makes its
        // consumer read again what it had applied, which consumers skip (stream positions,
        // idempotency keys). The next append's FULL commit syncs it anyway. Waiting for a sync
        // here held the store's one write lock against appends after every projected batch.
        let cursors = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().synchronous(SqliteSynchronous::Normal))
            .await
            .map_err(unavailable)?;
        // Readers map the file instead of copying each page in with a read call: a history
        // download's payloads span overflow pages, and perf showed those copies. Address space
        // only; the page cache holds the data either way. Writes still go through the writer.
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .read_only(true)
                    .pragma("mmap_size", Self::READER_MMAP_BYTES),
            )
            .await
            .map_err(unavailable)?;
        let (writes, queue) = mpsc::channel(QUEUE_DEPTH);
        let (head_tx, head_rx) = watch::channel(head as u64);
        tokio::spawn(GroupCommitter::new(writer, head_tx).run(queue));
        Ok(Self {
            readers,
            cursors,
            writes,
            head: head_rx,
        })
    }

    /// Events of all streams with `position > after`, in commit order, at most `max`. A reader
    /// never sees a later position before an earlier one becomes visible.
    pub async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        ))
        .bind(after as i64)
        .bind(limit(max))
        .fetch_all(&self.readers)
        .await
        .map_err(unavailable)?;
        rows.iter().map(decode_row).collect()
    }

    /// The highest committed position (0 when empty).
    pub async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(*self.head.borrow())
    }

    /// Hands a write to the group committer and waits for its answer.
    async fn write<T>(
        &self,
        request: WriteRequest,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.writes
            .send(request)
            .await
            .map_err(|_| unavailable("the event store writer has stopped"))?;
        answer
            .await
            .map_err(|_| unavailable("the event store writer stopped before answering"))?
    }

    /// Returns once an event with `position > after` may be visible.
    pub async fn wait_for_new(&self, after: u64) {
        let mut head = self.head.clone();
        // An error means the writer is gone; returning lets the caller read and see that.
        let _ = head.wait_for(|&h| h > after).await;
    }
}

fn decode_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    let stream_id: String = row.try_get("stream_id").map_err(corrupt)?;
    Ok(RecordedEvent {
        position: row.try_get::<i64, _>("position").map_err(corrupt)? as u64,
        stream_id: DeviceId::parse(stream_id)
            .map_err(|e| StoreError::Corrupt(format!("stream id: {e}")))?,
        stream_seq: row.try_get::<i64, _>("stream_seq").map_err(corrupt)? as u64,
        event_type: row.try_get("event_type").map_err(corrupt)?,
        schema_version: row.try_get::<i64, _>("schema_version").map_err(corrupt)? as u16,
        meta: EventMeta {
            event_id: row.try_get("event_id").map_err(corrupt)?,
            occurred_at: from_micros(row.try_get("occurred_at_us").map_err(corrupt)?),
            recorded_at: from_micros(row.try_get("recorded_at_us").map_err(corrupt)?),
            correlation_id: row.try_get("correlation_id").map_err(corrupt)?,
            causation_id: row.try_get("causation_id").map_err(corrupt)?,
        },
        payload: row.try_get("payload").map_err(corrupt)?,
    })
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(
        &self,
        stream: &DeviceId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.clone(),
            expected,
            events,
            reply,
        };
        self.write(WriteRequest::Append(request), answer).await
    }

    async fn read_stream(
        &self,
        stream: &DeviceId,
        query: StreamQuery,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM events WHERE stream_id = "));
        sql.push_bind(stream.as_str())
            .push(" AND stream_seq >= ")
            .push_bind(limit(query.from_seq as usize));
        if let Some(types) = query.only_types {
            sql.push(" AND event_type IN (");
            let mut list = sql.separated(", ");
            for t in types {
                list.push_bind(*t);
            }
            sql.push(")");
        }
        sql.push(" ORDER BY stream_seq LIMIT ")
            .push_bind(limit(query.limit));
        let rows = sql
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode_row).collect()
    }

    async fn stream_version(&self, stream: &DeviceId) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(stream_seq), 0) FROM events WHERE stream_id = ?",
        )
        .bind(stream.as_str())
        .fetch_one(&self.readers)
        .await
        .map_err(unavailable)?;
        Ok(v as u64)
    }

    async fn recall(
        &self,
        stream: &DeviceId,
        key: &IdempotencyKey,
    ) -> Result<Option<Recalled>, StoreError> {
        let mut known = group_commit::recall_many(&self.readers, &[(stream, key)])
            .await
            .map_err(unavailable)?;
        Ok(known.pop().flatten())
    }

    fn multi_stream(&self) -> Option<&dyn MultiStreamAppend> {
        Some(self)
    }
}

/// One transaction of the single writer: SQLite holds every stream in one file.
#[async_trait]
impl MultiStreamAppend for SqliteEventStore {
    async fn append_streams(
        &self,
        parts: Vec<StreamAppend>,
    ) -> Result<Vec<Vec<Committed>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = MultiStreamRequest { parts, reply };
        self.write(WriteRequest::MultiStream(request), answer).await
    }
}

/// A SQLite cursor is the last position read, in decimal; the empty cursor is position 0.
fn position_of(cursor: &FeedCursor) -> Result<u64, StoreError> {
    if cursor.0.is_empty() {
        return Ok(0);
    }
    cursor
        .0
        .parse()
        .map_err(|_| StoreError::BadCursor(format!("{:?} is not a position", cursor.0)))
}

fn cursor_at(position: u64) -> FeedCursor {
    FeedCursor(position.to_string())
}

/// How long a change-feed waiter sleeps at most before reading again.
const FEED_WAIT: Duration = Duration::from_secs(1);

#[async_trait]
impl ChangeFeed for SqliteEventStore {
    async fn read_changes(&self, from: &FeedCursor, max: usize) -> Result<FeedPage, StoreError> {
        let after = position_of(from)?;
        let events = self.read_all(after, max).await?;
        let next = events
            .last()
            .map_or_else(|| from.clone(), |e| cursor_at(e.position));
        Ok(FeedPage { events, next })
    }

    async fn wait_for_changes(&self, from: &FeedCursor) {
        let Ok(after) = position_of(from) else { return };
        let _ = tokio::time::timeout(FEED_WAIT, self.wait_for_new(after)).await;
    }

    async fn load_cursor(&self, reader: &str) -> Result<FeedCursor, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM feed_cursors WHERE reader = ?")
                .bind(reader)
                .fetch_optional(&self.readers)
                .await
                .map_err(unavailable)?;
        Ok(position.map_or_else(FeedCursor::beginning, |p| cursor_at(p as u64)))
    }

    async fn save_cursor(&self, reader: &str, cursor: &FeedCursor) -> Result<(), StoreError> {
        let position = position_of(cursor)?;
        sqlx::query(
            "INSERT INTO feed_cursors (reader, position) VALUES (?, ?)
             ON CONFLICT (reader) DO UPDATE SET position = excluded.position",
        )
        .bind(reader)
        .bind(position as i64)
        .execute(&self.cursors)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// Exact and cheap here: positions are dense, so the backlog is the head minus the cursor.
    async fn backlog(&self, from: &FeedCursor, _cap: usize) -> Result<Backlog, StoreError> {
        let after = position_of(from)?;
        let head = self.head_position().await?;
        let oldest = if head > after {
            self.read_all(after, 1)
                .await?
                .first()
                .map(|e| e.meta.recorded_at)
        } else {
            None
        };
        Ok(Backlog {
            events: head.saturating_sub(after),
            capped: false,
            oldest_recorded_at: oldest,
        })
    }
}

#[async_trait]
impl EventHistory for SqliteEventStore {
    /// Devices, types and recorded-at go into the query; so does the lower bound of measured-at
    /// (an event's `occurred_at` is its newest reading, so a batch with a reading in range has
    /// one at least that late). The readings inside a payload are checked here.
    async fn read_history(
        &self,
        filter: &HistoryFilter,
        after: &FeedCursor,
        max: usize,
    ) -> Result<HistoryPage, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM events WHERE position > "));
        let after_position = position_of(after)?;
        sql.push_bind(after_position as i64);
        if !filter.devices.is_empty() {
            sql.push(" AND stream_id IN (");
            let mut list = sql.separated(", ");
            for device in &filter.devices {
                list.push_bind(device.as_str());
            }
            sql.push(")");
        }
        if !filter.types.is_empty() {
            sql.push(" AND event_type IN (");
            let mut list = sql.separated(", ");
            for t in &filter.types {
                list.push_bind(t.as_str());
            }
            sql.push(")");
        }
        if let Some(from) = filter.recorded.from {
            sql.push(" AND recorded_at_us >= ")
                .push_bind(to_micros(from));
        }
        if let Some(to) = filter.recorded.to {
            sql.push(" AND recorded_at_us < ").push_bind(to_micros(to));
        }
        if let Some(from) = filter.measured.from {
            sql.push(" AND occurred_at_us >= ")
                .push_bind(to_micros(from));
        }
        sql.push(" ORDER BY position LIMIT ").push_bind(limit(max));
        let rows = sql
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(unavailable)?;
        let read = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
        let next = read
            .last()
            .map_or_else(|| after.clone(), |e| cursor_at(e.position));
        Ok(HistoryPage {
            at_end: read.len() < max,
            // Positions are dense: the rows the query skipped count as read.
            scanned: read
                .last()
                .map_or(0, |e| (e.position - after_position) as usize),
            events: read
                .into_iter()
                .filter(|e| filter.measured_matches(e))
                .collect(),
            next,
        })
    }
}
