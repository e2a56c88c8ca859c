//! Appends to several streams in one transaction of their own (a bulk import): every part is
//! written, or none. The versions are read inside the transaction, not taken from the writer's
//! cache, since another process may append to the same file.

use std::collections::HashMap;

use tokio::sync::oneshot;
use watershed_domain::event::Committed;
use watershed_domain::ports::{StoreError, StreamAppend};
use watershed_domain::{DeviceId, IdempotencyKey};

use super::{committed, insert_rows, recall_many, stored_versions, unavailable, GroupCommitter};

pub(crate) struct MultiStreamRequest {
    pub parts: Vec<StreamAppend>,
    pub reply: oneshot::Sender<Result<Vec<Vec<Committed>>, StoreError>>,
}

/// Streams (or stream and key pairs) one statement looks up, well within SQLite's 32 766 bound
/// parameters.
const LOOKUPS_PER_STATEMENT: usize = 1_000;

impl GroupCommitter {
    pub(super) async fn commit_multi_stream(&mut self, request: MultiStreamRequest) {
        let result = match self.write_parts(&request.parts).await {
            Ok((committed, versions)) => {
                match sqlx::query("COMMIT").execute(&mut self.conn).await {
                    Ok(_) => {
                        self.versions.extend(versions);
                        if let Some(head) = committed.iter().flatten().map(|c| c.position).max() {
                            self.head.send_replace(head);
                        }
                        Ok(committed)
                    }
                    Err(e) => Err(unavailable(e)),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, parts = request.parts.len(), "multi-stream append refused or failed; nothing written");
            // Whatever the transaction holds goes; after a failed BEGIN this fails harmlessly.
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut self.conn).await {
                tracing::debug!(error = %rollback, "rollback after a multi-stream append");
            }
        }
        // A caller that gave up waiting is fine: the outcome is all or nothing either way.
        let _ = request.reply.send(result);
    }

    /// Writes every part inside an open transaction; the caller commits or rolls back. Answers
    /// where each part's events landed and every stream's version after them.
    async fn write_parts(
        &mut self,
        parts: &[StreamAppend],
    ) -> Result<(Vec<Vec<Committed>>, HashMap<DeviceId, u64>), StoreError> {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await
            .map_err(unavailable)?;
        let streams: Vec<&DeviceId> = parts.iter().map(|p| &p.stream).collect();
        let mut versions = HashMap::new();
        for chunk in streams.chunks(LOOKUPS_PER_STATEMENT) {
            let read = stored_versions(&mut self.conn, chunk)
                .await
                .map_err(unavailable)?;
            versions.extend(read);
        }
        let conflict =
            |part: &StreamAppend, versions: &HashMap<DeviceId, u64>| StoreError::Conflict {
                stream: part.stream.clone(),
                expected: part.expected.as_u64(),
                actual: versions.get(&part.stream).copied().unwrap_or(0),
            };
        let keyed: Vec<(usize, (&DeviceId, &IdempotencyKey))> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, part)| {
                part.events
                    .iter()
                    .filter_map(|e| e.idempotency_key.as_ref())
                    .map(move |key| (i, (&part.stream, key)))
            })
            .collect();
        for chunk in keyed.chunks(LOOKUPS_PER_STATEMENT) {
            let pairs: Vec<_> = chunk.iter().map(|(_, pair)| *pair).collect();
            let known = recall_many(&mut self.conn, &pairs)
                .await
                .map_err(unavailable)?;
            if let Some(((part, _), _)) = chunk.iter().zip(known).find(|(_, k)| k.is_some()) {
                return Err(conflict(&parts[*part], &versions));
            }
        }

        let mut rows = Vec::new();
        let mut first_rows = Vec::with_capacity(parts.len());
        for part in parts {
            let actual = versions.get(&part.stream).copied().unwrap_or(0);
            if actual != part.expected.as_u64() {
                return Err(conflict(part, &versions));
            }
            first_rows.push(rows.len());
            for (seq, event) in (actual + 1..).zip(&part.events) {
                rows.push((&part.stream, seq, event));
            }
            versions.insert(part.stream.clone(), actual + part.events.len() as u64);
        }
        let positions = insert_rows(&mut self.conn, &rows)
            .await
            .map_err(unavailable)?;
        let committed = parts
            .iter()
            .zip(first_rows)
            .map(|(part, first)| committed(&rows, &positions, first..first + part.events.len()))
            .collect();
        Ok((committed, versions))
    }
}
