//! The event store's single writer. Appends queue on a channel; the writer takes everything that
//! queued while the previous commit was syncing and commits it in one transaction, so one fsync
//! acknowledges many requests (group commit). Being the only writer, it also keeps every stream's
//! version in memory and checks expected versions without a query.

use std::collections::HashMap;

use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};
use watershed_domain::event::{AppendOutcome, Committed, ExpectedVersion, NewEvent};
use watershed_domain::ports::StoreError;
use watershed_domain::{DeviceId, IdempotencyKey, PayloadDigest, Recalled};

use super::time::to_micros;

/// The most appends one transaction takes; bounds the latency a request waits behind others.
const MAX_GROUP: usize = 512;

mod multi_stream;

pub(crate) use multi_stream::MultiStreamRequest;

/// What the writer is asked to do.
pub(crate) enum WriteRequest {
    /// One stream's append, committed with whatever else queued meanwhile.
    Append(AppendRequest),
    /// Appends to several streams, all or none, in a transaction of their own.
    MultiStream(MultiStreamRequest),
}

pub(crate) struct AppendRequest {
    pub stream: DeviceId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

pub(crate) struct GroupCommitter {
    conn: SqliteConnection,
    /// Committed version per stream, filled on first use.
    versions: HashMap<DeviceId, u64>,
    head: watch::Sender<u64>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl GroupCommitter {
    pub fn new(conn: SqliteConnection, head: watch::Sender<u64>) -> Self {
        Self {
            conn,
            versions: HashMap::new(),
            head,
        }
    }

    /// Serves appends until every sender is gone, then closes the connection cleanly.
    pub async fn run(mut self, mut requests: mpsc::Receiver<WriteRequest>) {
        // Registered at zero, so an alert on its rate works before the first failure.
        metrics::counter!("watershed_group_commit_errors_total").increment(0);
        let mut queued = Vec::with_capacity(MAX_GROUP);
        let mut group = Vec::with_capacity(MAX_GROUP);
        while requests.recv_many(&mut queued, MAX_GROUP).await > 0 {
            for request in queued.drain(..) {
                match request {
                    WriteRequest::Append(append) => group.push(append),
                    // Alone in its transaction, so that its refusal fails no other request;
                    // what queued before it commits first.
                    WriteRequest::MultiStream(request) => {
                        if !group.is_empty() {
                            self.commit_group(&mut group).await;
                        }
                        self.commit_multi_stream(request).await;
                    }
                }
            }
            if !group.is_empty() {
                self.commit_group(&mut group).await;
            }
        }
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the event store writer failed");
        }
    }

    async fn commit_group(&mut self, group: &mut Vec<AppendRequest>) {
        metrics::histogram!("watershed_group_commit_appends").record(group.len() as f64);
        let started = std::time::Instant::now();
        let mut staged = HashMap::new();
        let outcome = match self.write_group(group, &mut staged).await {
            Ok(results) => match sqlx::query("COMMIT").execute(&mut self.conn).await {
                Ok(_) => Ok(results),
                Err(e) => Err(unavailable(e)),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(results) => {
                metrics::histogram!("watershed_group_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                let head = results
                    .iter()
                    .filter_map(|r| match r {
                        Ok(AppendOutcome::Appended(c)) => c.last().map(|c| c.position),
                        _ => None,
                    })
                    .max();
                self.versions.extend(staged);
                if let Some(head) = head {
                    self.head.send_replace(head);
                }
                for (request, result) in group.drain(..).zip(results) {
                    // A caller that gave up waiting is fine: its events are durable either way.
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = group.len(), "event store group commit failed");
                metrics::counter!("watershed_group_commit_errors_total").increment(1);
                if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut self.conn).await {
                    tracing::debug!(error = %rollback, "rollback after a failed group commit");
                }
                for request in group.drain(..) {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Writes every request of the group inside one open transaction. A request refused for its
    /// own reasons (conflict) gets its error in the results; an I/O error fails the whole group.
    async fn write_group(
        &mut self,
        group: &[AppendRequest],
        staged: &mut HashMap<DeviceId, u64>,
    ) -> Result<Vec<Result<AppendOutcome, StoreError>>, StoreError> {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await
            .map_err(unavailable)?;
        if let Some(results) = self.write_group_at_once(group, staged).await? {
            return Ok(results);
        }
        // A version this writer had cached was stale (another process appended to the file):
        // answer each request alone, reading versions afresh.
        staged.clear();
        let mut results = Vec::with_capacity(group.len());
        for request in group {
            results.push(self.write_one(request, staged).await?);
        }
        Ok(results)
    }

    /// The usual path: the whole group in a handful of statements (one key lookup, one version
    /// read, one insert per few thousand events), since every statement is a round trip to the
    /// driver's thread. `None` when a cached version turned out stale; nothing is written then.
    async fn write_group_at_once(
        &mut self,
        group: &[AppendRequest],
        staged: &mut HashMap<DeviceId, u64>,
    ) -> Result<Option<Vec<Result<AppendOutcome, StoreError>>>, StoreError> {
        let keyed: Vec<Option<(usize, &IdempotencyKey)>> = group
            .iter()
            .map(|r| {
                r.events
                    .iter()
                    .enumerate()
                    .find_map(|(i, e)| e.idempotency_key.as_ref().map(|k| (i, k)))
            })
            .collect();
        let pairs: Vec<(&DeviceId, &IdempotencyKey)> = group
            .iter()
            .zip(&keyed)
            .filter_map(|(r, k)| k.map(|(_, key)| (&r.stream, key)))
            .collect();
        let mut known = recall_many(&mut self.conn, &pairs)
            .await
            .map_err(unavailable)?
            .into_iter();
        let uncached: Vec<&DeviceId> = group
            .iter()
            .map(|r| &r.stream)
            .filter(|s| !staged.contains_key(*s) && !self.versions.contains_key(*s))
            .collect();
        // Versions read or written inside this transaction are the file's truth; cached ones may
        // be stale.
        let mut fresh: HashMap<DeviceId, u64> = stored_versions(&mut self.conn, &uncached)
            .await
            .map_err(unavailable)?;
        fresh.extend(staged.iter().map(|(k, v)| (k.clone(), *v)));

        enum Plan {
            Answer(Result<AppendOutcome, StoreError>),
            Insert {
                from_row: usize,
            },
            /// Same key as an earlier request of this group; whether the payloads agree.
            Repeat {
                of: usize,
                same: bool,
            },
        }
        let mut plans = Vec::with_capacity(group.len());
        let mut rows: Vec<(&DeviceId, u64, &NewEvent)> = Vec::new();
        let mut in_group: HashMap<(&DeviceId, &str), (usize, PayloadDigest)> = HashMap::new();
        for (i, (request, key)) in group.iter().zip(&keyed).enumerate() {
            if let Some((at, key)) = key {
                let digest = request.events[*at].digest();
                // One answer per keyed request, in the group's order.
                if let Some(stored) = known.next().flatten() {
                    plans.push(Plan::Answer(Ok(stored.answer(&digest))));
                    continue;
                }
                if let Some((of, first)) = in_group.get(&(&request.stream, key.as_str())) {
                    plans.push(Plan::Repeat {
                        of: *of,
                        same: *first == digest,
                    });
                    continue;
                }
                in_group.insert((&request.stream, key.as_str()), (i, digest));
            }
            let actual = match fresh.get(&request.stream) {
                Some(&v) => v,
                None => self.versions.get(&request.stream).copied().unwrap_or(0),
            };
            let expected = request.expected.as_u64();
            if actual != expected {
                if !fresh.contains_key(&request.stream) {
                    return Ok(None);
                }
                plans.push(Plan::Answer(Err(StoreError::Conflict {
                    stream: request.stream.clone(),
                    expected,
                    actual,
                })));
                continue;
            }
            plans.push(Plan::Insert {
                from_row: rows.len(),
            });
            for (seq, event) in (actual + 1..).zip(&request.events) {
                rows.push((&request.stream, seq, event));
            }
            fresh.insert(request.stream.clone(), actual + request.events.len() as u64);
        }

        let positions = match insert_rows(&mut self.conn, &rows).await {
            Ok(positions) => positions,
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        staged.extend(fresh);
        let mut results: Vec<Result<AppendOutcome, StoreError>> = Vec::with_capacity(group.len());
        for (plan, request) in plans.into_iter().zip(group) {
            let result = match plan {
                Plan::Answer(answer) => answer,
                Plan::Insert { from_row } => Ok(AppendOutcome::Appended(committed(
                    &rows,
                    &positions,
                    from_row..from_row + request.events.len(),
                ))),
                Plan::Repeat { of, same } => {
                    let at = keyed[of].map_or(0, |(at, _)| at);
                    match &results[of] {
                        Ok(AppendOutcome::Appended(c)) if same => {
                            Ok(AppendOutcome::Duplicate(c[at].clone()))
                        }
                        Ok(AppendOutcome::Appended(c)) => {
                            Ok(AppendOutcome::KeyReused(c[at].clone()))
                        }
                        other => other.clone(),
                    }
                }
            };
            results.push(result);
        }
        Ok(Some(results))
    }

    async fn write_one(
        &mut self,
        request: &AppendRequest,
        staged: &mut HashMap<DeviceId, u64>,
    ) -> Result<Result<AppendOutcome, StoreError>, StoreError> {
        let keyed = request
            .events
            .iter()
            .find_map(|e| e.idempotency_key.as_ref().map(|key| (key, e)));
        if let Some((key, event)) = keyed {
            let known = recall_many(&mut self.conn, &[(&request.stream, key)])
                .await
                .map_err(unavailable)?
                .pop()
                .flatten();
            if let Some(known) = known {
                return Ok(Ok(known.answer(&event.digest())));
            }
        }

        let cached = staged
            .get(&request.stream)
            .or(self.versions.get(&request.stream))
            .copied();
        let actual = match cached {
            Some(v) if v == request.expected.as_u64() => v,
            // Not known, or not what the caller expects: read the file. Another process may
            // append to it too (a projectors target writing alerts), so a cached version can be
            // stale; inside this transaction the read sees every commit and this group's writes.
            _ => {
                let v = self.stored_version(&request.stream).await?;
                staged.insert(request.stream.clone(), v);
                v
            }
        };
        if actual != request.expected.as_u64() {
            return Ok(Err(StoreError::Conflict {
                stream: request.stream.clone(),
                expected: request.expected.as_u64(),
                actual,
            }));
        }

        // Should an insert still clash with what another process wrote, only this request fails
        // and the rest of the group commits. A failed statement undoes itself, so one event
        // needs nothing more; several get a savepoint, which costs two more round trips to the
        // driver's thread.
        let guarded = request.events.len() > 1;
        if guarded {
            sqlx::query("SAVEPOINT append")
                .execute(&mut self.conn)
                .await
                .map_err(unavailable)?;
        }
        match self.insert_events(request, actual).await {
            Ok(committed) => {
                if guarded {
                    sqlx::query("RELEASE append")
                        .execute(&mut self.conn)
                        .await
                        .map_err(unavailable)?;
                }
                staged.insert(request.stream.clone(), actual + committed.len() as u64);
                Ok(Ok(AppendOutcome::Appended(committed)))
            }
            Err(e) if is_unique_violation(&e) => {
                let undo: &[&str] = if guarded {
                    &["ROLLBACK TO append", "RELEASE append"]
                } else {
                    &[]
                };
                for undo in undo {
                    sqlx::query(undo)
                        .execute(&mut self.conn)
                        .await
                        .map_err(unavailable)?;
                }
                let now = self.stored_version(&request.stream).await?;
                staged.insert(request.stream.clone(), now);
                Ok(Err(StoreError::Conflict {
                    stream: request.stream.clone(),
                    expected: request.expected.as_u64(),
                    actual: now,
                }))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn stored_version(&mut self, stream: &DeviceId) -> Result<u64, StoreError> {
        let versions = stored_versions(&mut self.conn, &[stream])
            .await
            .map_err(unavailable)?;
        Ok(versions.get(stream).copied().unwrap_or(0))
    }

    async fn insert_events(
        &mut self,
        request: &AppendRequest,
        version: u64,
    ) -> Result<Vec<Committed>, sqlx::Error> {
        let rows: Vec<_> = (version + 1..)
            .zip(&request.events)
            .map(|(seq, event)| (&request.stream, seq, event))
            .collect();
        let positions = insert_rows(&mut self.conn, &rows).await?;
        let committed = rows
            .iter()
            .zip(positions)
            .map(|((_, seq, event), position)| Committed {
                event_id: event.meta.event_id,
                stream_seq: *seq,
                position,
            })
            .collect();
        Ok(committed)
    }
}

/// The rows SQLite takes per INSERT: 11 columns, within its 32 766 bound parameters.
const ROWS_PER_INSERT: usize = 2_900;

/// Inserts `rows` (stream, sequence, event) in order and answers each row's position. All or
/// nothing: a statement that fails undoes itself, and more than one statement goes inside a
/// savepoint, so a failure leaves none of them.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[(&DeviceId, u64, &NewEvent)],
) -> Result<Vec<u64>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let chunked = rows.len() > ROWS_PER_INSERT;
    if chunked {
        sqlx::query("SAVEPOINT bulk").execute(&mut *conn).await?;
    }
    let mut positions = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (event_id, stream_id, stream_seq, event_type, schema_version,
                 occurred_at_us, recorded_at_us, correlation_id, causation_id,
                 idempotency_key, payload) ",
        );
        insert.push_values(chunk, |mut row, (stream, seq, event)| {
            row.push_bind(event.meta.event_id)
                .push_bind(stream.as_str())
                .push_bind(*seq as i64)
                .push_bind(event.event_type)
                .push_bind(i64::from(event.schema_version))
                .push_bind(to_micros(event.meta.occurred_at))
                .push_bind(to_micros(event.meta.recorded_at))
                .push_bind(event.meta.correlation_id)
                .push_bind(event.meta.causation_id)
                .push_bind(event.idempotency_key.as_ref().map(IdempotencyKey::as_str))
                .push_bind(event.payload.as_str());
        });
        // RETURNING promises no order, so each position is matched to its event by id.
        insert.push(" RETURNING event_id, position");
        let returned: Vec<(uuid::Uuid, i64)> =
            match insert.build_query_as().fetch_all(&mut *conn).await {
                Ok(returned) => returned,
                Err(e) => {
                    if chunked {
                        for undo in ["ROLLBACK TO bulk", "RELEASE bulk"] {
                            sqlx::query(undo).execute(&mut *conn).await?;
                        }
                    }
                    return Err(e);
                }
            };
        let by_id: HashMap<uuid::Uuid, i64> = returned.into_iter().collect();
        for (_, _, event) in chunk {
            let position = by_id.get(&event.meta.event_id).ok_or_else(|| {
                sqlx::Error::Protocol(format!(
                    "no position returned for event {}",
                    event.meta.event_id
                ))
            })?;
            positions.push(*position as u64);
        }
    }
    if chunked {
        sqlx::query("RELEASE bulk").execute(&mut *conn).await?;
    }
    Ok(positions)
}

/// Where the inserted `rows[range]` landed, given every row's position.
fn committed(
    rows: &[(&DeviceId, u64, &NewEvent)],
    positions: &[u64],
    range: std::ops::Range<usize>,
) -> Vec<Committed> {
    range
        .map(|row| Committed {
            event_id: rows[row].2.meta.event_id,
            stream_seq: rows[row].1,
            position: positions[row],
        })
        .collect()
}

/// The versions of `streams` in the file (0 for a stream with no event), in one statement.
async fn stored_versions(
    conn: &mut SqliteConnection,
    streams: &[&DeviceId],
) -> Result<HashMap<DeviceId, u64>, sqlx::Error> {
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT stream_id, MAX(stream_seq) FROM events WHERE stream_id IN (",
    );
    let mut list = query.separated(", ");
    for stream in streams {
        list.push_bind(stream.as_str());
    }
    query.push(") GROUP BY stream_id");
    let rows: HashMap<String, i64> = query
        .build_query_as::<(String, i64)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    Ok(streams
        .iter()
        .map(|s| ((*s).clone(), rows.get(s.as_str()).map_or(0, |&v| v as u64)))
        .collect())
}

/// The events stored under these (stream, key) pairs, in one statement, in the pairs' order.
/// SQLite keeps each payload as it was appended, so its digest is the first request's.
pub(super) async fn recall_many<'c, E>(
    conn: E,
    pairs: &[(&DeviceId, &IdempotencyKey)],
) -> Result<Vec<Option<Recalled>>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT stream_id, idempotency_key, event_id, stream_seq, position, payload FROM events
         WHERE (stream_id, idempotency_key) IN (VALUES ",
    );
    let mut list = query.separated(", ");
    for (stream, key) in pairs {
        list.push("(")
            .push_bind_unseparated(stream.as_str())
            .push_unseparated(", ")
            .push_bind_unseparated(key.as_str())
            .push_unseparated(")");
    }
    // Spelled out so the partial index on (stream_id, idempotency_key) serves the lookup.
    query.push(") AND idempotency_key IS NOT NULL");
    let rows: Vec<(String, String, uuid::Uuid, i64, i64, String)> =
        query.build_query_as().fetch_all(conn).await?;
    // Stream, then key: both looked up by `&str`, without building a key per pair.
    let mut known: HashMap<String, HashMap<String, Recalled>> = HashMap::new();
    for (stream, key, event_id, seq, position, payload) in rows {
        let recalled = Recalled {
            committed: Committed {
                event_id,
                stream_seq: seq as u64,
                position: position as u64,
            },
            digest: Some(PayloadDigest::of(&payload)),
        };
        known.entry(stream).or_default().insert(key, recalled);
    }
    Ok(pairs
        .iter()
        .map(|(stream, key)| {
            // Two requests of one group may carry the same key: each gets the answer.
            known
                .get(stream.as_str())
                .and_then(|keys| keys.get(key.as_str()))
                .cloned()
        })
        .collect())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
