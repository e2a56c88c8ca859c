//! One append as one transactional batch in the stream's partition: atomic, one round trip, and
//! every check done by the service inside the batch, so no read comes first:
//!
//! 1. create one item per idempotency key — taken means a resend (409);
//! 2. read the event at the expected version — missing means the writer is ahead of the stream (404);
//! 3. create one item per event, id = its sequence — taken means another writer won (409);
//! 4. upsert the `head` item with the new version, so `stream_version` is one point read.
//!
//! Batches in a partition are serialisable, and 2 + 3 admit a batch only when the stream is
//! exactly at the expected version, so `head` never needs its own precondition.

use azure_data_cosmos::models::TransactionalBatchOperationResult;
use azure_data_cosmos::TransactionalBatch;
use watershed_domain::event::{Committed, ExpectedVersion, NewEvent};
use watershed_domain::ports::StoreError;
use watershed_domain::{DeviceId, IdempotencyKey, PayloadDigest};

use super::failure::Failure;
use super::items::{event_item_id, EventItem, HeadItem, IdempotencyItem, StreamItem};

/// Cosmos DB takes at most 100 operations per transactional batch.
const MAX_BATCH_OPERATIONS: usize = 100;

/// What each operation of the batch is for, to read a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    ClaimKey(IdempotencyKey, PayloadDigest),
    CheckVersion,
    CreateEvent(u64),
    MoveHead,
}

pub(super) struct AppendBatch {
    batch: TransactionalBatch,
    steps: Vec<Step>,
    committed: Vec<Committed>,
}

/// Why a batch was not applied. A failed batch wrote nothing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The service refused for now; worth another try after the hinted wait.
    ForNow(Option<std::time::Duration>),
    /// Something stored stands in the way.
    Clash(Clash),
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Clash {
    /// This key is already stored: the append is a resend, or reuses the key for another
    /// request; the digest is of the event that claimed it here.
    KeyTaken(IdempotencyKey, PayloadDigest),
    /// The stream is behind the expected version.
    StreamBehind,
    /// The event at this sequence exists: another writer appended first, or an earlier try of
    /// this very append did (the SDK retries writes whose outcome it could not see).
    SequenceTaken(u64),
}

impl AppendBatch {
    /// The batch appending `events` (at least one) to `stream` at `expected`.
    pub(super) fn new(
        stream: &DeviceId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Self, StoreError> {
        let version = expected.as_u64();
        let end = version + events.len() as u64;
        let mut steps = Vec::new();
        let mut batch = TransactionalBatch::new(stream.as_str().to_owned());
        let mut items = Vec::with_capacity(events.len());
        for (seq, event) in (version + 1..).zip(events) {
            items.push(EventItem::new(stream, seq, end, event)?);
        }
        let committed: Vec<Committed> = items.iter().map(EventItem::committed).collect();

        for (event, done) in events.iter().zip(&committed) {
            if let (Some(key), Some(claim)) = (
                &event.idempotency_key,
                IdempotencyItem::new(stream, event, done.clone()),
            ) {
                batch = batch
                    .create_item(StreamItem::Idempotency(claim))
                    .map_err(unserialisable)?;
                steps.push(Step::ClaimKey(key.clone(), event.digest()));
            }
        }
        if version > 0 {
            batch = batch.read_item(event_item_id(version), None);
            steps.push(Step::CheckVersion);
        }
        for item in items {
            let seq = item.committed().stream_seq;
            batch = batch
                .create_item(StreamItem::Event(item))
                .map_err(unserialisable)?;
            steps.push(Step::CreateEvent(seq));
        }
        batch = batch
            .upsert_item(StreamItem::Head(HeadItem::new(stream, end)), None)
            .map_err(unserialisable)?;
        steps.push(Step::MoveHead);

        if steps.len() > MAX_BATCH_OPERATIONS {
            return Err(StoreError::Unavailable(format!(
                "an append of {} events needs {} batch operations; Cosmos DB takes {MAX_BATCH_OPERATIONS}",
                events.len(),
                steps.len()
            )));
        }
        Ok(Self {
            batch,
            steps,
            committed,
        })
    }

    pub(super) fn batch(&self) -> TransactionalBatch {
        self.batch.clone()
    }

    /// Where the events land if the batch is applied.
    pub(super) fn committed(&self) -> &[Committed] {
        &self.committed
    }

    /// Reads the per-operation results of a batch the service did not apply: the one operation
    /// that failed says why (the others answer 424 Failed Dependency).
    pub(super) fn refusal(
        &self,
        results: &[TransactionalBatchOperationResult],
    ) -> Result<Refusal, StoreError> {
        let failed = results
            .iter()
            .position(|r| !r.is_success() && r.status_code() != 424)
            .ok_or_else(|| {
                StoreError::Unavailable("cosmos db refused a batch without saying why".to_owned())
            })?;
        let result = &results[failed];
        let status = result.status_code();
        let step = self.steps.get(failed).ok_or_else(|| {
            StoreError::Unavailable(format!(
                "cosmos db answered for batch operation {failed} of {}",
                self.steps.len()
            ))
        })?;
        match (step, status) {
            (Step::ClaimKey(key, digest), 409) => {
                Ok(Refusal::Clash(Clash::KeyTaken(key.clone(), digest.clone())))
            }
            (Step::CheckVersion, 404) => Ok(Refusal::Clash(Clash::StreamBehind)),
            (Step::CreateEvent(seq), 409) => Ok(Refusal::Clash(Clash::SequenceTaken(*seq))),
            _ if Failure::of(status) != Failure::Refused => {
                Ok(Refusal::ForNow(result.retry_after()))
            }
            _ => Err(StoreError::Unavailable(format!(
                "cosmos db refused batch operation {step:?} with status {status}"
            ))),
        }
    }
}

/// Adding an item to a batch fails only when it does not serialise to JSON.
fn unserialisable(e: azure_data_cosmos::CosmosError) -> StoreError {
    StoreError::Corrupt(format!("an item to append does not serialise: {e}"))
}
