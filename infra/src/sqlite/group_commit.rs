//! The event store's single writer. Appends queue on a channel; the writer takes everything that
//! queued while the previous commit was syncing and commits it in one transaction, so one fsync
//! acknowledges many requests (group commit). Being the only writer, it also keeps every stream's
//! version in memory and checks expected versions without a query.

use std::collections::HashMap;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};
use watershed_domain::event::{AppendOutcome, Committed, ExpectedVersion, NewEvent};
use watershed_domain::ports::StoreError;
use watershed_domain::DeviceId;

use super::time::to_micros;

/// The most appends one transaction takes; bounds the latency a request waits behind others.
const MAX_GROUP: usize = 512;

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
    pub async fn run(mut self, mut requests: mpsc::Receiver<AppendRequest>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while requests.recv_many(&mut group, MAX_GROUP).await > 0 {
            self.commit_group(&mut group).await;
        }
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the event store writer failed");
        }
    }

    async fn commit_group(&mut self, group: &mut Vec<AppendRequest>) {
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
        let mut results = Vec::with_capacity(group.len());
        for request in group {
            results.push(self.write_one(request, staged).await?);
        }
        Ok(results)
    }

    async fn write_one(
        &mut self,
        request: &AppendRequest,
        staged: &mut HashMap<DeviceId, u64>,
    ) -> Result<Result<AppendOutcome, StoreError>, StoreError> {
        let stream = request.stream.as_str();
        if let Some(key) = request
            .events
            .first()
            .and_then(|e| e.idempotency_key.as_deref())
        {
            let known: Option<(uuid::Uuid, i64, i64)> = sqlx::query_as(
                "SELECT event_id, stream_seq, position FROM events
                 WHERE stream_id = ? AND idempotency_key = ?",
            )
            .bind(stream)
            .bind(key)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(unavailable)?;
            if let Some((event_id, seq, position)) = known {
                return Ok(Ok(AppendOutcome::Duplicate(Committed {
                    event_id,
                    stream_seq: seq as u64,
                    position: position as u64,
                })));
            }
        }

        let actual = match staged
            .get(&request.stream)
            .or(self.versions.get(&request.stream))
        {
            Some(&v) => v,
            None => {
                let v: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(stream_seq), 0) FROM events WHERE stream_id = ?",
                )
                .bind(stream)
                .fetch_one(&mut self.conn)
                .await
                .map_err(unavailable)?;
                v as u64
            }
        };
        if actual != request.expected.as_u64() {
            return Ok(Err(StoreError::Conflict {
                stream: request.stream.clone(),
                expected: request.expected.as_u64(),
                actual,
            }));
        }

        let mut committed = Vec::with_capacity(request.events.len());
        for (seq, event) in (actual + 1..).zip(&request.events) {
            let position: i64 = sqlx::query_scalar(
                "INSERT INTO events (event_id, stream_id, stream_seq, event_type, schema_version,
                     occurred_at_us, recorded_at_us, correlation_id, causation_id,
                     idempotency_key, payload)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 RETURNING position",
            )
            .bind(event.meta.event_id)
            .bind(stream)
            .bind(seq as i64)
            .bind(event.event_type)
            .bind(i64::from(event.schema_version))
            .bind(to_micros(event.meta.occurred_at))
            .bind(to_micros(event.meta.recorded_at))
            .bind(event.meta.correlation_id)
            .bind(event.meta.causation_id)
            .bind(event.idempotency_key.as_deref())
            .bind(event.payload.as_str())
            .fetch_one(&mut self.conn)
            .await
            .map_err(unavailable)?;
            committed.push(Committed {
                event_id: event.meta.event_id,
                stream_seq: seq,
                position: position as u64,
            });
        }
        staged.insert(request.stream.clone(), actual + committed.len() as u64);
        Ok(Ok(AppendOutcome::Appended(committed)))
    }
}
